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


rule launch_plan:
    """What each stage will cost before any GPU job: time, GPU-hours, memory, disk, storage, loader."""
    input:
        unpack(plan_inputs),
    output:
        json="results/plan/launch_plan.json",
        md="results/plan/launch_plan.md",
    params:
        settings=json.dumps({k: config[k] for k in ("plan", "stage1", "stage2", "stage3", "storage", "tokenizer",
                                                     "data", "languages")}, sort_keys=True),
        workers=STAGE1_WORKERS,
        optional=lambda w, input: " ".join(f"--{k.replace('_', '-')}={input[k]}" for k in ("stage2_clips", "calibration")
                                           if k in input.keys()),
        code=code("launch_plan.py"),
    benchmark:
        "results/benchmarks/launch_plan.tsv"
    log:
        "logs/plan/launch_plan.log",
    conda:
        "../envs/maya.yaml"
    shell:
        "maya_step launch_plan --settings {params.settings:q} --stage1-clips {input.stage1_clips:q}"
        " --balance {input.balance:q} {params.optional}"
        " --workers {params.workers} --checkpoint-dir results --json {output.json:q} --md {output.md:q} > {log:q} 2>&1"
