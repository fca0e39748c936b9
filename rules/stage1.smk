# Stage 1: FastConformer hybrid TDT + CTC (NeMo) -> results/stage1/final.nemo


rule stage1_readiness:
    """GPU training gate (README: make prod-readiness): GPUs, disk, artifacts, pretrained weights,
    the store, and the launch plan's memory and disk verdicts."""
    input:
        unpack(stage1_inputs),
        plan="results/plan/launch_plan.json",
    output:
        "results/stage1/readiness.json",
    params:
        settings=json.dumps(STAGE1_SETTINGS | {"vocab_size": STAGE1_VOCAB}),
        code=code("stage1_readiness.py"),
    benchmark:
        "results/benchmarks/stage1_readiness.tsv",
    log:
        "logs/stage1/readiness.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step stage1_readiness --settings {params.settings:q} --artifacts {input:q}"
        " --checkpoint-dir results/stage1/run/checkpoints --plan {input.plan:q}"
        " --out {output:q} > {log:q} 2>&1"


rule train_stage1:
    """Train Stage 1 on the train split (resumes from results/stage1/run/ after a kill)."""
    input:
        unpack(stage1_inputs),
        gate=stage1_gate,
    output:
        model="results/stage1/final.nemo",
        summary="results/stage1/train_summary.json",
        metrics="results/stage1/metrics.csv",
    params:
        # Only what training reads: an evaluation or report setting never retrains.
        settings=json.dumps(STAGE1_SETTINGS),
        run_key=lambda w: run_key(STAGE1_SETTINGS, "train_stage1.py"),
        code=code("train_stage1.py"),
        workers=STAGE1_WORKERS,
        tokenizer_dir=f"results/tokenizer/bpe{STAGE1_VOCAB}",
        launch=lambda w, resources: launcher("stage1", resources),
    resources:
        # h200: one 8-way DDP job holds all 8 GPUs and Lightning starts the ranks. SLURM: the
        # profile adds mpi=srun, so the job asks for tasks_per_node tasks on `nodes` nodes and
        # the rule starts them with srun (launcher).
        gpu=STAGE1_GPUS * STAGE1_NODES,
        nodes=STAGE1_NODES,
        tasks_per_node=config["stage1"]["trainer"]["devices"],
        cpus_per_task=8 if STAGE1_GPUS else 1,
        mem_mb=256000 if STAGE1_GPUS else 8000,
        runtime=config["stage1"]["trainer"]["max_steps"] // 1000 * 60 + 60 if STAGE1_GPUS else 60,
    # The training job owns the machine (CPU demo) or the node (8 GPUs); Snakemake lowers this
    # to --cores (workflow.cores itself is unknown for -n/--dag without --cores).
    threads: 256
    benchmark:
        "results/benchmarks/train_stage1.tsv",
    log:
        "logs/stage1/train.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "{params.launch} maya_step train_stage1 --settings {params.settings:q} --splits results/splits"
        " --train-clips {input.train_clips:q} --tokenizer {params.tokenizer_dir:q} --balance {input.balance:q}"
        " --out-dir results/stage1 --workers {params.workers} --run-key {params.run_key:q} --no-progress"
        " > {log:q} 2>&1"


rule export_stage1:
    """The stock-NeMo copy of final.nemo: loads with NeMo alone (no `maya`), no language hint."""
    input:
        model="results/stage1/final.nemo",
        tokenizer=f"results/tokenizer/bpe{STAGE1_VOCAB}/tokenizer.model",
    output:
        "results/stage1/maya_asr.nemo",
    params:
        code=code("export_stage1.py"),
        tokenizer_dir=lambda w, input: os.path.dirname(input.tokenizer),
    benchmark:
        "results/benchmarks/export_stage1.tsv",
    log:
        "logs/stage1/export.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step export_stage1 --model {input.model:q} --tokenizer {params.tokenizer_dir:q} --out {output:q}"
        " > {log:q} 2>&1"
