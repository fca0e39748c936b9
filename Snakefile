# Maya ASR workflow: raw shards -> QC'd manifests -> tokenizers -> models -> per-language reports.
#   snakemake                      the demo (config.yaml), CPU
#   snakemake --profile h200 ...   one 8-GPU node, production recipe (config/prod.yaml)
#   snakemake --profile slurm ...  a SLURM cluster, production recipe
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/common_data.smk"
include: "rules/common_training.smk"
include: "rules/common_eval.smk"
include: "rules/corpus.smk"
include: "rules/data.smk"
include: "rules/prepare.smk"
include: "rules/stage1.smk"
include: "rules/stage2.smk"
include: "rules/eval.smk"
include: "rules/operations.smk"


rule all:
    input:
        LISTINGS,
        final_targets,
    default_target: True
