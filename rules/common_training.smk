# Training stages: what each stage reads (settings, inputs, the readiness gate), how its ranks are
# launched, and the run key that decides between resuming and starting afresh.

STAGE1_VOCAB = config["tokenizer"]["vocab_size"]
TOKENIZER_VOCABS = sorted({STAGE1_VOCAB, config["tokenizer"]["ctc_vocab_size"] or STAGE1_VOCAB})


# Everything Stage 1 reads, and nothing else (params below decide reruns).
STAGE1_SETTINGS = {
    "stage1": config["stage1"],
    "languages": config["languages"],
    "data": {"sample_rate": config["data"]["sample_rate"], "bucket_edges_s": config["data"]["bucket_edges_s"]},
}
STAGE1_GPUS = config["stage1"]["trainer"]["devices"] if config["stage1"]["trainer"]["accelerator"] == "gpu" else 0
STAGE1_NODES = config["stage1"]["trainer"]["num_nodes"]
# CPU demo: no worker processes (2 cores do the model); GPU: workers feed 8 devices.
STAGE1_WORKERS = 6 if STAGE1_GPUS else 0
STAGE1_INPUTS = {
    "train_clips": "results/batching/train_clips.arrow",
    "val": "results/splits/val.parquet",
    "tokenizer": f"results/tokenizer/bpe{STAGE1_VOCAB}/tokenizer.model",
    "balance": "results/balance/weights.json",
}


def stage1_inputs(wildcards):
    # The pretrained weights are not an input: a fresh clone must still plan (`-n`) without them.
    # The readiness gate fails with a clear message when they are missing or unreadable.
    return STAGE1_INPUTS


def stage1_gate(wildcards):
    """The readiness gate runs before GPU training only (never on the CPU demo)."""
    return ["results/stage1/readiness.json"] if STAGE1_GPUS else []


def launcher(section, resources):
    """How training (`section`: stage1 or stage2) starts its ranks. Under SLURM (`--profile
    slurm` gives the rule resources mpi=srun) one srun task per device on each node, so Lightning's
    SLURMEnvironment takes ranks from SLURM; elsewhere Lightning starts its processes itself."""
    mpi = resources.get("mpi") if hasattr(resources, "get") else None
    if not mpi:
        return ""
    tr = config[section]["trainer"]
    srun = f"{mpi} --kill-on-bad-exit=1 --nodes={tr['num_nodes']} --ntasks-per-node={tr['devices']}"
    return f"MAYA_LAUNCH={shlex.quote(srun)}"


# Run name, checkpoint offload and trackers: what operating a run needs. Kept out of the run key (a
# new bucket or tracker never restarts training) and out of params: Snakemake reruns a job whose
# params changed, and a finished Stage 1 run again re-exports final.nemo, so every later stage would
# start afresh for a tracker setting. The training and readiness entry points read it from the
# environment, which every job inherits (a SLURM job's own Snakemake sets it again). Credentials are
# never in config. (Set with update(): snakemake --lint takes os.environ[...] for a read.)
os.environ.update(MAYA_OPS=json.dumps(
    {"run_name": config["run_name"], "storage": config["storage"], "tracking": config["tracking"]}, sort_keys=True
))


def plan_inputs(wildcards):
    """The launch plan reads the clip tables and weights; a GPU calibration once `make gpu-check` made one."""
    inputs = {"stage1_clips": "results/batching/train_clips.arrow", "balance": "results/balance/weights.json"}
    # Optional: Stage 2's own clip table (Gemma tokens) once it exists, else Stage 1's stands in (the
    # plan says which); a GPU calibration once `make gpu-check` has made one.
    for name, path in (("stage2_clips", "results/stage2/train_clips.arrow"),
                       ("calibration", "results/plan/gpu_calibration.json")):
        if os.path.exists(path):
            inputs[name] = path
    return inputs


def run_key(settings, script):
    """A training run's identity: its settings and the code behind its entry point. A rerun with the
    same key resumes the run directory; another key starts afresh (maya.stage1.train.prepare_run_dir)."""
    import hashlib

    blob = f"{json.dumps(settings, sort_keys=True)}\n{code_fingerprint(REPO, f'workflow_scripts/{script}')}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Stage 2a, 2b and 3 (one rule, train_stage2, for all three).
STAGE2_GPUS = config["stage2"]["trainer"]["devices"] if config["stage2"]["trainer"]["accelerator"] == "gpu" else 0
STAGE2_NODES = config["stage2"]["trainer"]["num_nodes"]
STAGE2_WORKERS = 6 if STAGE2_GPUS else 0


def stage2_settings(stage):
    """What training `stage` (stage2a, stage2b, stage3) reads: the shared stage2 settings and its own
    part (2a never reads 2b's)."""
    s2 = {k: v for k, v in config["stage2"].items()
          if k not in ("stage2a", "stage2b", "llm", "llm_name", "tokenizer_source") or k == stage}
    if stage == "stage3":
        s2["stage2b"] = config["stage2"]["stage2b"]  # Stage 3 runs at lr_scale x the 2b peak LRs
    out = {"stage2": s2, "languages": config["languages"], "data": STAGE1_SETTINGS["data"]}
    if stage == "stage3":
        out["stage3"] = config["stage3"]
    return out


STAGE2_INIT = {"stage2a": "results/stage1/final.nemo", "stage2b": "results/stage2a/final.ckpt",
               "stage3": "results/stage2b/final.ckpt"}


def stage2_inputs(wildcards):
    """What training Stage 2a, 2b or 3 reads: 3 trains on the Stage-3 clips, 2a/2b on every train clip."""
    clips = "stage3" if wildcards.stage == "stage3" else "stage2"
    return {"init": STAGE2_INIT[wildcards.stage], "llm": "results/llm", "tokenizer": "results/tokenizer/gemma",
            "train_clips": f"results/{clips}/train_clips.arrow", "val": "results/splits/val.parquet",
            "balance": "results/balance/weights.json"}


def stage2_gate(wildcards):
    """The readiness gate runs before GPU training only (never on the CPU demo)."""
    return {"readiness": f"results/{wildcards.stage}/readiness.json"} if STAGE2_GPUS else {}
