# Evaluation: decode (per checkpoint x test set x decoder) -> score -> summary.csv -> reports/eval.html


rule eval_testset:
    """An external test set (corpus with `use: eval`) as one Parquet of its QC'd clips."""
    input:
        eval_testset_manifests,
    output:
        "results/eval/testsets/{testset}.parquet",
    params:
        code=code("eval_testset.py"),
    benchmark:
        "results/benchmarks/eval_testset/{testset}.tsv",
    log:
        "logs/eval/testset_{testset}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step eval_testset --manifests {input:q} --out {output:q} > {log:q} 2>&1"


rule decode_testset:
    """Greedy decoding of one test set with one checkpoint and decoder; RTFx measured."""
    input:
        model=lambda w: stage_model(w.stage),
        testset=testset_parquet,
    output:
        hyps="results/eval/{stage}/{testset}/{decoder}/hyps.jsonl",
        rtfx="results/eval/{stage}/{testset}/{decoder}/rtfx.json",
    params:
        decoder=lambda w: EVAL_DECODERS[w.decoder][0],
        hint=lambda w: "" if EVAL_DECODERS[w.decoder][1] else "--no-lang-hint",
        settings=settings("eval", keep=("batch_size", "lang_hint", "device")),
        decoding=lambda w: "" if w.stage == "stage1" else json.dumps(config["stage2"]["decoding"], sort_keys=True),
        code=code("decode_testset.py"),
    resources:
        gpu=1 if STAGE1_GPUS else 0,
    # On CPU most of a decode is Python start-up: one thread each lets decodes run side by side.
    threads: 4 if STAGE1_GPUS else 1
    benchmark:
        "results/benchmarks/decode_testset/{stage}/{testset}/{decoder}.tsv",
    log:
        "logs/eval/decode_{stage}_{testset}_{decoder}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step decode_testset --settings={params.settings:q} --model={input.model:q}"
        " --testset={input.testset:q} --decoder={params.decoder} {params.hint} --decoding={params.decoding:q} --no-progress"
        " --threads={threads} --out-hyps={output.hyps:q} --out-rtfx={output.rtfx:q} > {log:q} 2>&1"


rule score_testset:
    """WER/CER per language with bootstrap CIs and confusions (re-scoring never re-decodes)."""
    input:
        "results/eval/{stage}/{testset}/{decoder}/hyps.jsonl",
    output:
        "results/eval/{stage}/{testset}/{decoder}/scores.json",
    params:
        settings=settings("eval", keep=("bootstrap_samples", "bootstrap_seed", "top_confusions")),
        code=code("score_testset.py"),
    benchmark:
        "results/benchmarks/score_testset/{stage}/{testset}/{decoder}.tsv",
    log:
        "logs/eval/score_{stage}_{testset}_{decoder}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step score_testset --settings={params.settings:q} --hyps={input:q} --out={output:q}"
        " > {log:q} 2>&1"


rule eval_summary:
    """results/eval/summary.csv: one row per (stage, test set, decoder, language)."""
    input:
        scores=eval_outputs("scores.json"),
        rtfx=eval_outputs("rtfx.json"),
    output:
        "results/eval/summary.csv",
    params:
        code=code("eval_summary.py"),
    benchmark:
        "results/benchmarks/eval_summary.tsv",
    log:
        "logs/eval/summary.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step eval_summary --scores {input.scores:q} --rtfx {input.rtfx:q} --out {output:q} > {log:q} 2>&1"


rule eval_report:
    """reports/eval.html: one self-contained page (plots embedded, no network)."""
    input:
        summary="results/eval/summary.csv",
        scores=eval_outputs("scores.json"),
        rtfx=eval_outputs("rtfx.json"),
        balance="results/balance/weights.json",
        qc="results/qc/summary.json",
        bins="results/batching/bins.json",
        train_summary="results/stage1/train_summary.json",
        metrics="results/stage1/metrics.csv",
        models=[stage_model(s) for s in config["eval"]["stages"]],
        stage_summaries=[f"results/{s}/train_summary.json" for s in config["eval"]["stages"] if s != "stage1"],
    output:
        "reports/eval.html",
    params:
        title=config["eval"]["report_title"],
        benchmarks=json.dumps({n: CORPORA[n].get("benchmark") for n in EVAL_CORPORA}, sort_keys=True),
        llm_name=config["stage2"]["llm_name"],
        provenance=lambda w: json.dumps({"run_name": config["run_name"], "git_commit": git_commit(),
                                         "config_sha256": config_hash(),
                                         "bootstrap": f"{config['eval']['bootstrap_samples']} resamples, seed "
                                                      f"{config['eval']['bootstrap_seed']}"}),
        code=code("eval_report.py"),
    benchmark:
        "results/benchmarks/eval_report.tsv",
    log:
        "logs/eval/report.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step eval_report --summary {input.summary:q} --scores {input.scores:q} --rtfx {input.rtfx:q}"
        " --balance {input.balance:q} --qc {input.qc:q} --bins={input.bins:q} --train-summary {input.train_summary:q}"
        " --metrics {input.metrics:q} --models {input.models:q} --stage-summaries {input.stage_summaries:q}"
        " --llm-name {params.llm_name:q} --provenance {params.provenance:q}"
        " --title {params.title:q} --benchmarks {params.benchmarks:q} --timings results/benchmarks"
        " --out {output:q} > {log:q} 2>&1"
