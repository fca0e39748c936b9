# Data plane: per-shard offset index + QC (one job per shard), the QC summary, manifests.


rule index_shard:
    """Offset index, QC report and quarantined rows of one shard. Succeeds on a broken shard
    (the report says why it failed), so one bad shard never stops the other 3,550."""
    input:
        shard_index_inputs,
    output:
        index="results/index/{corpus}/{lang}/{shard}.parquet",
        report="results/qc/{corpus}/{lang}/{shard}.json",
        quarantine="results/qc/{corpus}/{lang}/{shard}.quarantine.parquet",
    params:
        job=shard_job,
        code=code("index_shard.py"),
    benchmark:
        "results/benchmarks/index_shard/{corpus}/{lang}/{shard}.tsv",
    log:
        "logs/index_shard/{corpus}/{lang}/{shard}.log",
    resources:
        mem_mb=2000,
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step index_shard --job={params.job:q} --index={output.index:q} --report={output.report:q}"
        " --quarantine={output.quarantine:q} > {log:q} 2>&1"


rule qc_summary:
    """Per corpus and language: shards ok/failed/skipped, clips in/kept/quarantined by reason
    (cross-shard duplicates included), hours. Fails (naming the corpus) over its failure limits."""
    input:
        listings=LISTINGS,
        skipped=SKIPPED_LISTINGS,
        # Each shard's index stands for its QC report too (one job writes both, and a missing
        # report reruns that job): listing both would resolve 7,102 files per DAG, not 3,551.
        indexes=all_indexes,
    output:
        summary="results/qc/summary.json",
        duplicates="results/qc/duplicates.parquet",
    params:
        listings=[f"{corpus}=results/shards/{corpus}.tsv" for corpus in CORPORA],
        skipped=[f"{corpus}=results/shards/{corpus}.skipped.json" for corpus in CORPORA],
        limits=lambda w: json.dumps(qc_limits(), sort_keys=True),
        code=code("qc_summary.py"),
    benchmark:
        "results/benchmarks/qc_summary.tsv",
    log:
        "logs/qc_summary.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step qc_summary --listing {params.listings:q} --skipped {params.skipped:q}"
        " --limits-json={params.limits:q} --qc-dir=results/qc --index-dir=results/index"
        " --output={output.summary:q} --duplicates={output.duplicates:q} > {log:q} 2>&1"


rule build_manifest:
    """Kept clips of one corpus and language as Parquet and NeMo JSONL. Waits for the QC summary,
    so nothing downstream runs when a corpus is over its failure limits."""
    input:
        indexes=language_indexes,
        # ancient(): wait for the QC gate to pass, but a rewritten summary (new limits, another
        # language's shard) is no reason to rebuild this language's manifest.
        summary=ancient("results/qc/summary.json"),
        # ancient() likewise: this language's shards changing reruns it through `indexes`.
        duplicates=ancient("results/qc/duplicates.parquet"),
    output:
        parquet="results/manifests/{corpus}/{lang}.parquet",
        jsonl="results/manifests/{corpus}/{lang}.jsonl",
    params:
        # Not an input: the listing is rewritten whenever any shard of the corpus changes, and
        # that must not rebuild every language's manifest.
        listing="results/shards/{corpus}.tsv",
        code=code("build_manifest.py"),
    benchmark:
        "results/benchmarks/build_manifest/{corpus}/{lang}.tsv",
    log:
        "logs/build_manifest/{corpus}/{lang}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step build_manifest --corpus={wildcards.corpus} --lang={wildcards.lang}"
        " --listing={params.listing:q} --duplicates={input.duplicates:q}"
        " --index-dir=results/index/{wildcards.corpus} --parquet={output.parquet:q}"
        " --jsonl={output.jsonl:q} > {log:q} 2>&1"
