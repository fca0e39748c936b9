# Operations: the checkpoint store's end-to-end check (the seed README's `make validate-r2`).


rule validate_storage:
    """Upload, verify, download, compare, list and delete through the configured store; MB/s both ways."""
    output:
        "results/storage/validate.json",
    params:
        storage=json.dumps(config["storage"], sort_keys=True),
        code=code("validate_storage.py"),
    benchmark:
        "results/benchmarks/validate_storage.tsv"
    log:
        "logs/storage/validate.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step validate_storage --storage {params.storage:q} --out {output:q} > {log:q} 2>&1"
