"""The config schema: defaults, the production overlay, and clear errors for bad keys/values."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError

from maya.config import deep_update, validate_config
from tests.helpers import REPO, copy_repo, snakemake, write_config


def load(name):
    return yaml.safe_load((REPO / name).read_text())


def test_demo_config_is_valid_and_gets_defaults():
    cfg = validate_config(load("config.yaml"))
    assert cfg["data"]["bucket_edges_s"] == [0, 4, 8, 12, 16, 20]
    assert [c["synthesise"] for c in cfg["corpora"]] == ["demo", "broken"]
    assert cfg["qc"]["decode"] is True and cfg["qc"]["max_failed_shard_fraction"] == 0.05
    assert cfg["stage1"]["trainer"]["accelerator"] == "cpu"


def test_prod_overlay_carries_the_seed_numbers():
    cfg = validate_config(deep_update(load("config.yaml"), load("config/prod.yaml")))
    s1 = cfg["stage1"]
    assert (s1["model"]["n_layers"], s1["model"]["d_model"], s1["model"]["subsampling_factor"]) == (42, 1024, 8)
    assert (s1["model"]["pred_hidden"], s1["model"]["joint_hidden"], s1["model"]["n_mels"]) == (640, 640, 80)
    assert s1["model"]["tdt_durations"] == [0, 1, 2, 3, 4] and s1["model"]["joint_dropout"] == 0.2
    assert (s1["model"]["tdt_sigma"], s1["model"]["tdt_omega"]) == (0.02, 0.1)
    assert (s1["optim"]["encoder_lr"], s1["optim"]["head_lr"]) == (2e-5, 1e-3)
    assert (s1["optim"]["freeze_encoder_steps"], s1["optim"]["ctc_warmup_steps"]) == (5000, 3000)
    assert (s1["optim"]["warmup_steps"], s1["optim"]["min_lr"], s1["optim"]["ctc_weight"]) == (2000, 1e-5, 0.3)
    assert s1["optim"]["betas"] == [0.9, 0.98] and s1["optim"]["weight_decay"] == 1e-4
    assert (s1["sampler"]["max_batch_duration_s"], s1["sampler"]["max_tokens_in_batch"]) == (120.0, 400)
    assert s1["trainer"]["accumulate_grad_batches"] == 4 and s1["trainer"]["precision"] == "bf16-mixed"
    assert s1["trainer"]["checkpoint_every_n_steps"] == 5000 and s1["trainer"]["max_steps"] == 200000
    assert cfg["tokenizer"]["vocab_size"] == 32000 and cfg["balance"]["temperature"] == 0.3
    s2 = cfg["stage2"]
    assert s2["llm"] == "pretrained/gemma-3-1b-pt" and "llm_hidden" not in s2  # width from the LLM's config
    assert (s2["stage2a"]["max_steps"], s2["stage2a"]["projection_lr"]) == (20000, 1e-4)
    assert (s2["stage2b"]["max_steps"], s2["stage2b"]["llm_lr"], s2["stage2b"]["projection_lr"]) == (150000, 1e-5, 1e-4)
    assert s2["trainer"]["strategy"] == "deepspeed" and s2["trainer"]["accumulate_grad_batches"] == 4
    zero = s2["deepspeed"]["zero_optimization"]
    assert (
        zero["stage"] == 2
        and zero["allgather_bucket_size"] == zero["reduce_bucket_size"] == 2e8
        and zero["overlap_comm"]
    )
    assert s2["deepspeed"]["train_micro_batch_size_per_gpu"] == s2["sampler"]["max_batch_size"] == 8
    assert s2["deepspeed"]["gradient_clipping"] == 1.0 and "gradient_accumulation_steps" not in s2["deepspeed"]
    assert (cfg["stage3"]["top_fraction"], cfg["stage3"]["max_steps"], cfg["stage3"]["lr_scale"]) == (0.1, 20000, 0.1)
    assert cfg["corpora"] == [
        {
            "name": "final_export",
            "format": "final_export",
            "root": "/root/sft_data/final-export/production/shards",
            "synthesise": False,
            "use": "train",
            "columns": {},
        }
    ]
    assert cfg["qc"]["max_failed_shard_fraction"] == 0.05 and cfg["qc"]["decode"] is True
    assert len(cfg["languages"]) == 12


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda c: c.update(learning_rate=1), "learning_rate"),
        (lambda c: c["demo_corpus"].update(clips_per_shard="many"), "clips_per_shard"),
        (lambda c: c["stage1"]["optim"].update(encoder_lr=-1), "encoder_lr"),
        (lambda c: c["corpora"][0].update(format="webdataset"), "webdataset"),
        (lambda c: c.update(languages=["hi", "xx"]), "xx"),
    ],
)
def test_bad_key_or_value_is_named(mutate, needle):
    cfg = copy.deepcopy(load("config.yaml"))
    mutate(cfg)
    with pytest.raises(WorkflowError) as err:
        validate_config(cfg)
    assert needle in str(err.value)


def test_bad_config_fails_the_dag_before_any_job(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    write_config(repo / "bad.yaml", {"demo_corpus": {"clip_per_shard": 3}})
    proc = snakemake(repo, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "clip_per_shard" in proc.stderr + proc.stdout
    assert not (repo / "results").exists()


def test_key_sorted_orders_mapping_keys_at_every_depth_and_keeps_list_order():
    import json

    from maya.config import key_sorted

    a = {"stage1": {"trainer": {"b": 1, "a": 2}, "model": {}}, "languages": ["hi", "en"]}
    b = {"languages": ["hi", "en"], "stage1": {"model": {}, "trainer": {"a": 2, "b": 1}}}
    assert json.dumps(key_sorted(a)) == json.dumps(key_sorted(b)) != json.dumps(a)
    assert key_sorted(a)["languages"] == ["hi", "en"]
