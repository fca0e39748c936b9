# Corpus stage: synthesise the demo corpus (if configured) and list every corpus' shards.


rule synthesise_demo_shard:
    """One shard of the demo corpus: eSpeak NG speech of the project's own text."""
    output:
        multiext("results/corpus/{corpus}/lang={lang}/{shard}/", *SHARD_FILES),
    params:
        shard_index=lambda w: int(w.shard.split("_")[1]),
        corpus_root=lambda w: CORPORA[w.corpus]["root"],
        # Only what changes a shard's bytes: adding shards must not rerun the existing ones.
        settings=settings("demo_corpus", drop=("shards_per_language",)),
        code=code("synthesise_demo_shard.py"),
    benchmark:
        "results/benchmarks/synthesise_demo_shard/{corpus}/{lang}/{shard}.tsv",
    log:
        "logs/synthesise_demo_shard/{corpus}/{lang}/{shard}.log",
    wildcard_constraints:
        corpus="|".join(DEMO_CORPORA) or "__none__",
        shard=r"shard_\d{5}",
    resources:
        mem_mb=1000,
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step synthesise_demo_shard --settings={params.settings:q} --root={params.corpus_root:q}"
        " --lang={wildcards.lang} --shard-index={params.shard_index} > {log:q} 2>&1"


rule synthesise_broken_shard:
    """One deliberately damaged shard (a directory: some kinds lack files on purpose)."""
    output:
        directory("results/corpus/{corpus}/lang={lang}/{shard}"),
    params:
        corpus_root=lambda w: CORPORA[w.corpus]["root"],
        code=code("synthesise_broken_shard.py"),
    benchmark:
        "results/benchmarks/synthesise_broken_shard/{corpus}/{lang}/{shard}.tsv",
    log:
        "logs/synthesise_broken_shard/{corpus}/{lang}/{shard}.log",
    wildcard_constraints:
        corpus="|".join(BROKEN_CORPORA) or "__none__",
        lang=BROKEN_LANG,
        shard="|".join(re.escape(k) for k in BROKEN_KINDS),
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step synthesise_broken_shard --root {params.corpus_root:q} --kind {wildcards.shard:q}"
        " > {log:q} 2>&1"


rule list_shards:
    """Every shard of a corpus as (lang, shard_id): the record of what the per-shard jobs are."""
    input:
        synthesised_shards,
    output:
        listing="results/shards/{corpus}.tsv",
        skipped="results/shards/{corpus}.skipped.json",
    params:
        corpus=lambda w: json.dumps(CORPORA[w.corpus], sort_keys=True),
        languages=lambda w: corpus_languages(w.corpus),
        shards_per_language=lambda w: (
            config["demo_corpus"]["shards_per_language"] if w.corpus in DEMO_CORPORA else 0
        ),
        listing=corpus_listing_digest,
        code=code("list_shards.py"),
    benchmark:
        "results/benchmarks/list_shards/{corpus}.tsv",
    log:
        "logs/list_shards/{corpus}.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step list_shards --corpus-json {params.corpus:q} --languages {params.languages}"
        " --shards-per-language {params.shards_per_language} --output={output.listing:q}"
        " --skipped={output.skipped:q} > {log:q} 2>&1"
