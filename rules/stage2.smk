# Stage 2 (Stage-1 encoder + projection + Gemma-3, NeMo SALM): 2a projection only, 2b joint.


rule build_llm:
    """The decoder as a local HF directory (GGUF dequantised once; tiny-random for the demo)."""
    output:
        directory("results/llm"),
    params:
        source=config["stage2"]["llm"],
        code=code("build_llm.py"),
    benchmark:
        "results/benchmarks/build_llm.tsv",
    log:
        "logs/stage2/build_llm.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step build_llm --source {params.source:q} --out-dir {output:q} > {log:q} 2>&1"


rule stage2_clips:
    """A train clip table with Gemma token ids (same clips, same sampler as Stage 1): the whole train
    split for Stage 2, the Stage-3 subset for Stage 3."""
    input:
        split=lambda w: {"stage2": "results/splits/train.parquet", "stage3": "results/stage3/train.parquet"}[w.llm_stage],
        tokenizer="results/tokenizer/gemma",
    output:
        "results/{llm_stage}/train_clips.arrow",
    params:
        code=code("stage2_clips.py"),
    benchmark:
        "results/benchmarks/stage2_clips/{llm_stage}.tsv",
    log:
        "logs/{llm_stage}/clips.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step stage2_clips --split {input.split:q} --tokenizer {input.tokenizer:q} --out {output:q} > {log:q} 2>&1"


rule stage2_readiness:
    """GPU training gate for Stage 2a, 2b or 3: GPUs, disk, artifacts, the LLM, DeepSpeed, bf16."""
    wildcard_constraints:
        stage="stage2a|stage2b|stage3",
    input:
        unpack(stage2_inputs),
        plan="results/plan/launch_plan.json",
    output:
        "results/{stage}/readiness.json",
    params:
        settings=lambda w: json.dumps(stage2_settings(w.stage) | {"stage1_model": config["stage1"]["model"]}),
        code=code("stage2_readiness.py"),
    benchmark:
        "results/benchmarks/stage2_readiness/{stage}.tsv",
    log:
        "logs/{stage}/readiness.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step stage2_readiness --stage {wildcards.stage} --settings {params.settings:q} --llm {input.llm:q}"
        " --artifacts {input:q} --checkpoint-dir results/{wildcards.stage}/run/checkpoints"
        " --plan {input.plan:q}"
        " --out {output:q} > {log:q} 2>&1"


rule train_stage2:
    """Stage 2a from the Stage-1 model, 2b from 2a, 3 from 2b on the Stage-3 clips (resumes from
    results/{stage}/run/ after a kill)."""
    wildcard_constraints:
        stage="stage2a|stage2b|stage3",
    input:
        unpack(stage2_inputs),
        unpack(stage2_gate),
    output:
        model="results/{stage}/final.ckpt",
        summary="results/{stage}/train_summary.json",
        metrics="results/{stage}/metrics.csv",
    params:
        settings=lambda w: json.dumps(stage2_settings(w.stage), sort_keys=True),
        run_key=lambda w: run_key(stage2_settings(w.stage), "train_stage2.py"),
        code=code("train_stage2.py"),
        workers=STAGE2_WORKERS,
        launch=lambda w, resources: launcher("stage2", resources),
    resources:
        gpu=STAGE2_GPUS * STAGE2_NODES,
        nodes=STAGE2_NODES,
        tasks_per_node=config["stage2"]["trainer"]["devices"],
        cpus_per_task=8 if STAGE2_GPUS else 1,
        mem_mb=256000 if STAGE2_GPUS else 8000,
    threads: 256
    benchmark:
        "results/benchmarks/train_stage2/{stage}.tsv",
    log:
        "logs/{stage}/train.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "{params.launch} maya_step train_stage2 --stage {wildcards.stage} --settings {params.settings:q}"
        " --init {input.init:q} --llm {input.llm:q} --tokenizer {input.tokenizer:q} --splits results/splits"
        " --train-clips {input.train_clips:q} --balance {input.balance:q} --out-dir results/{wildcards.stage}"
        " --workers {params.workers} --run-key {params.run_key:q} --no-progress > {log:q} 2>&1"


rule stage3_subset:
    """Stage 3's clips: per language the cleanest top_fraction (text-rate plausibility, Stage-1 CER)."""
    input:
        train="results/splits/train.parquet",
        model="results/stage1/final.nemo",
    output:
        clips="results/stage3/train.parquet",
        summary="results/stage3/subset.json",
    params:
        settings=lambda w: json.dumps({"stage3": {k: config["stage3"][k] for k in ("top_fraction", "pool_factor")},
                                       "eval": {k: config["eval"][k] for k in ("batch_size", "device")}}, sort_keys=True),
        code=code("stage3_subset.py"),
    resources:
        gpu=1 if STAGE2_GPUS else 0,
    benchmark:
        "results/benchmarks/stage3_subset.tsv",
    log:
        "logs/stage3/subset.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step stage3_subset --settings {params.settings:q} --train {input.train:q} --model {input.model:q}"
        " --out {output.clips:q} --summary {output.summary:q} --out-dir results/stage3/pool --no-progress > {log:q} 2>&1"
