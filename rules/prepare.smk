# Training inputs: splits, language balance, Lhotse input config, tokenizers, batching bins.


rule make_splits:
    """Train/val/test by stable hashing per language: speaker-disjoint (falls back with a
    warning when a language has too few speakers), text-disjoint when configured."""
    input:
        all_manifests,
    output:
        multiext("results/splits/", "train.parquet", "val.parquet", "test.parquet",
                 "train.jsonl", "val.jsonl", "test.jsonl", "report.json"),
    params:
        settings=settings("splits"),
        code=code("make_splits.py"),
    benchmark:
        "results/benchmarks/make_splits.tsv",
    log:
        "logs/make_splits.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step make_splits --settings={params.settings:q} --manifests {input:q}"
        " --out-dir=results/splits > {log:q} 2>&1"


rule balance_languages:
    """Sampling weight per (corpus, language) and hours per language before/after."""
    input:
        "results/splits/train.parquet",
    output:
        weights="results/balance/weights.json",
        table="results/balance/hours_per_language.csv",
    params:
        settings=settings("balance"),
        code=code("balance_languages.py"),
    benchmark:
        "results/benchmarks/balance_languages.tsv",
    log:
        "logs/balance_languages.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step balance_languages --settings={params.settings:q} --train={input:q}"
        " --weights={output.weights:q} --table={output.table:q} > {log:q} 2>&1"


rule lhotse_inputs:
    """NeMo Lhotse input_cfg.yaml streaming the train split from the original shard tars."""
    input:
        train="results/splits/train.parquet",
        weights="results/balance/weights.json",
    output:
        directory("results/lhotse"),
    params:
        code=code("lhotse_inputs.py"),
    benchmark:
        "results/benchmarks/lhotse_inputs.tsv",
    log:
        "logs/lhotse_inputs.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step lhotse_inputs --train {input.train:q} --weights {input.weights:q}"
        " --out-dir {output:q} > {log:q} 2>&1"


rule train_tokenizer:
    """SentencePiece BPE in NeMo's tokenizer-dir format, on language-balanced train text."""
    input:
        train="results/splits/train.parquet",
        weights="results/balance/weights.json",
    output:
        multiext("results/tokenizer/bpe{vocab}/", "tokenizer.model", "tokenizer.vocab", "vocab.txt"),
    params:
        # The vocabulary sizes choose the targets (the wildcard), not how each is trained.
        settings=settings("tokenizer", drop=("vocab_size", "ctc_vocab_size")),
        code=code("train_tokenizer.py"),
    wildcard_constraints:
        vocab=r"\d+",
    benchmark:
        "results/benchmarks/train_tokenizer/{vocab}.tsv",
    log:
        "logs/train_tokenizer/bpe{vocab}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step train_tokenizer --settings={params.settings:q} --train={input.train:q}"
        " --weights={input.weights:q} --out-dir=results/tokenizer/bpe{wildcards.vocab}"
        " --vocab-size={wildcards.vocab} > {log:q} 2>&1"


rule gemma_tokenizer:
    """Gemma-3 tokenizer + <|transcribe|> and the language tokens (Stage 2)."""
    output:
        directory("results/tokenizer/gemma"),
    params:
        source=config["stage2"]["tokenizer_source"],
        languages=config["languages"],
        code=code("gemma_tokenizer.py"),
    benchmark:
        "results/benchmarks/gemma_tokenizer.tsv",
    log:
        "logs/gemma_tokenizer.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step gemma_tokenizer --source {params.source:q} --languages {params.languages}"
        " --out-dir {output:q} > {log:q} 2>&1"


rule fertility_report:
    """Tokens per word per language: our BPE and Gemma, with the build guide's figures."""
    input:
        bpe=f"results/tokenizer/bpe{STAGE1_VOCAB}/tokenizer.model",
        gemma="results/tokenizer/gemma",
        text=["results/splits/val.parquet", "results/splits/test.parquet"],
    output:
        json="results/tokenizer/fertility.json",
        csv="results/tokenizer/fertility.csv",
    params:
        bpe_dir=lambda w, input: os.path.dirname(input.bpe),
        code=code("fertility_report.py"),
    benchmark:
        "results/benchmarks/fertility_report.tsv",
    log:
        "logs/fertility_report.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step fertility_report --bpe {params.bpe_dir:q} --gemma {input.gemma:q}"
        " --text {input.text:q} --json {output.json:q} --csv {output.csv:q} > {log:q} 2>&1"


rule batching_artifacts:
    """The train clip table (token ids, memory-mapped by Stage 1) and 1-D / 2-D duration bins."""
    input:
        train="results/splits/train.parquet",
        tokenizer=f"results/tokenizer/bpe{STAGE1_VOCAB}/tokenizer.model",
    output:
        clips="results/batching/train_clips.arrow",
        bins="results/batching/bins.json",
    params:
        tokenizer_dir=lambda w, input: os.path.dirname(input.tokenizer),
        # The model and memory budget size NeMo's bucket_batch_size in bins.json.
        settings=json.dumps({**config["batching"], "bucket_edges_s": config["data"]["bucket_edges_s"],
                             "subsampling_factor": config["stage1"]["model"]["subsampling_factor"],
                             "model": config["stage1"]["model"], "num_languages": len(config["languages"]),
                             "gpu_memory_budget_gb": config["stage1"]["sampler"]["gpu_memory_budget_gb"]},
                            sort_keys=True),
        code=code("batching_artifacts.py"),
    benchmark:
        "results/benchmarks/batching_artifacts.tsv",
    log:
        "logs/batching_artifacts.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step batching_artifacts --settings={params.settings:q} --train={input.train:q}"
        " --tokenizer={params.tokenizer_dir:q} --out-clips={output.clips:q}"
        " --out-bins={output.bins:q} > {log:q} 2>&1"
