# Evaluation and the default target: test sets, decoders per stage, the report's provenance, and
# what `snakemake` with no target builds.

EVAL_CORPORA = [n for n, c in CORPORA.items() if c["use"] == "eval"]
# "heldout" is the test split of the training corpora; every eval corpus is one more test set.
TESTSETS = ["heldout", *EVAL_CORPORA]
# decoder name -> (head, language hint). The *_nohint rows are what stock NeMo users get from
# results/stage1/maya_asr.nemo (no language embedding: the same as this model without a hint).
EVAL_DECODERS = {"tdt_greedy": ("tdt", True), "ctc_greedy": ("ctc", True),
                 "tdt_greedy_nohint": ("tdt", False), "ctc_greedy_nohint": ("ctc", False),
                 "llm_greedy": ("greedy", True), "llm_beam": ("beam", True)}


def stage_model(stage):
    """The checkpoint of a stage: Stage 1's .nemo, a Lightning checkpoint for Stages 2a/2b."""
    return "results/stage1/final.nemo" if stage == "stage1" else f"results/{stage}/final.ckpt"


def stage_decoders(stage):
    return config["eval"]["decoders"] if stage == "stage1" else config["eval"]["llm_decoders"]


def testset_parquet(wildcards):
    if wildcards.testset == "heldout":
        return "results/splits/test.parquet"
    return f"results/eval/testsets/{wildcards.testset}.parquet"


def eval_testset_manifests(wildcards):
    corpus = wildcards.testset
    return [f"results/manifests/{corpus}/{lang}.parquet" for lang in sorted({l for l, _ in shards_of(corpus)})]


def eval_outputs(name):
    return [f"results/eval/{stage}/{testset}/{decoder}/{name}"
            for stage in config["eval"]["stages"] for testset in TESTSETS for decoder in stage_decoders(stage)]


def git_commit():
    import subprocess

    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if out.returncode != 0:
            return "unknown (not a git checkout)"
        return f"{out.stdout.strip()}{' (uncommitted changes)' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def config_hash():
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def final_targets(wildcards):
    return [
        "results/qc/summary.json",
        *manifest_targets(),
        "results/splits/report.json",
        "results/balance/weights.json",
        "results/lhotse",
        *[f"results/tokenizer/bpe{v}/tokenizer.model" for v in TOKENIZER_VOCABS],
        "results/tokenizer/fertility.json",
        "results/batching/bins.json",
        "results/stage1/final.nemo",
        "results/stage1/maya_asr.nemo",
        *[stage_model(s) for s in config["eval"]["stages"]],
        "reports/eval.html",
    ]
