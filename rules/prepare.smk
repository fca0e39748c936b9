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
        s=config["splits"],
        flags=flags(config["splits"], "speaker_disjoint", "text_disjoint"),
        code=code("make_splits.py"),
    log:
        "logs/make_splits.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step make_splits --manifests {input:q} --out-dir results/splits"
        " --val-fraction {params.s[val_fraction]} --test-fraction {params.s[test_fraction]}"
        " {params.flags}"
        " --min-speakers {params.s[min_speakers]} --salt {params.s[salt]:q} > {log:q} 2>&1"


rule balance_languages:
    """Sampling weight per (corpus, language) and hours per language before/after."""
    input:
        "results/splits/train.parquet",
    output:
        weights="results/balance/weights.json",
        table="results/balance/hours_per_language.csv",
    params:
        b=config["balance"],
        code=code("balance_languages.py"),
    log:
        "logs/balance_languages.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step balance_languages --train {input:q} --method {params.b[method]}"
        " --temperature {params.b[temperature]} --corpus-temperature {params.b[corpus_temperature]}"
        " --weights {output.weights:q} --table {output.table:q} > {log:q} 2>&1"


rule lhotse_inputs:
    """NeMo Lhotse input_cfg.yaml streaming the train split from the original shard tars."""
    input:
        train="results/splits/train.parquet",
        weights="results/balance/weights.json",
    output:
        directory("results/lhotse"),
    params:
        code=code("lhotse_inputs.py"),
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
        t=config["tokenizer"],
        flags=flags(config["tokenizer"], "split_by_unicode_script"),
        code=code("train_tokenizer.py"),
    wildcard_constraints:
        vocab=r"\d+",
    log:
        "logs/train_tokenizer/bpe{vocab}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step train_tokenizer --train {input.train:q} --weights {input.weights:q}"
        " --out-dir results/tokenizer/bpe{wildcards.vocab} --vocab-size {wildcards.vocab}"
        " --character-coverage {params.t[character_coverage]}"
        " {params.flags}"
        " --sample-sentences {params.t[sample_sentences]} --seed {params.t[seed]} > {log:q} 2>&1"


rule gemma_tokenizer:
    """Gemma-3 tokenizer + <|transcribe|> and the language tokens (Stage 2)."""
    output:
        directory("results/tokenizer/gemma"),
    params:
        source=config["stage2"]["tokenizer_source"],
        languages=config["languages"],
        code=code("gemma_tokenizer.py"),
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
    log:
        "logs/fertility_report.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step fertility_report --bpe {params.bpe_dir:q} --gemma {input.gemma:q}"
        " --text {input.text:q} --json {output.json:q} --csv {output.csv:q} > {log:q} 2>&1"


rule batching_artifacts:
    """Per-clip token counts (Stage-1 tokenizer) and 1-D / 2-D duration bins for the sampler."""
    input:
        train="results/splits/train.parquet",
        tokenizer=f"results/tokenizer/bpe{STAGE1_VOCAB}/tokenizer.model",
    output:
        parquet="results/batching/train_tokens.parquet",
        bins="results/batching/bins.json",
    params:
        tokenizer_dir=lambda w, input: os.path.dirname(input.tokenizer),
        edges=config["data"]["bucket_edges_s"],
        b=config["batching"],
        subsampling=config["stage1"]["model"]["subsampling_factor"],
        code=code("batching_artifacts.py"),
    log:
        "logs/batching_artifacts.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step batching_artifacts --train {input.train:q} --tokenizer {params.tokenizer_dir:q}"
        " --edges {params.edges} --num-buckets {params.b[num_buckets]}"
        " --num-subbuckets {params.b[num_subbuckets]} --subsampling-factor {params.subsampling}"
        " --out-parquet {output.parquet:q}"
        " --out-bins {output.bins:q} > {log:q} 2>&1"
