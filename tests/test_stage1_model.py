"""The Stage-1 NeMo model: language embedding, recipe schedules, LR groups, loss wiring, init,
save / restore / transcribe."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.helpers import REPO
from tests.stage1_helpers import LANGS, build


@pytest.fixture(scope="module")
def model(stage1_dir):
    torch.manual_seed(0)
    return build(stage1_dir)


def _batch(n=2, seconds=1.0):
    g = torch.Generator().manual_seed(1)
    sig = torch.randn(n, int(16000 * seconds), generator=g) * 0.1
    return sig, torch.full((n,), sig.shape[1], dtype=torch.long)


def test_is_a_nemo_hybrid_tdt_ctc_model_with_the_tdt_loss_intact(model):
    from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel

    from maya.stage1.model import _AutoTDTLoss
    from maya.stage1.tdt_loss import TDTLossVectorized

    assert isinstance(model, EncDecHybridRNNTCTCBPEModel)
    assert isinstance(model.loss._loss, _AutoTDTLoss)
    assert type(model.loss._loss.numba_loss).__name__ == "TDTLossNumba"  # NeMo's CUDA kernel on GPU
    assert isinstance(model.loss._loss.cpu_loss, TDTLossVectorized)
    assert model.loss._blank == model.tokenizer.vocab_size  # blank is the last class, not 0
    assert model.joint.num_extra_outputs == 5 and model.loss._loss.cpu_loss.durations == [0, 1, 2, 3, 4]
    assert model.loss._loss.cpu_loss.sigma == pytest.approx(0.02) and model.loss._loss.cpu_loss.omega == pytest.approx(
        0.1
    )
    # One reduction for both heads (NeMo issue 14710).
    assert model.loss.reduction == model.ctc_loss.config_reduction == "mean_volume"


def test_language_embedding_is_added_per_utterance_and_optional(model):
    model.eval()
    sig, lens = _batch()
    assert model.lang_embedding.weight.shape == (len(LANGS), 32)
    assert 0.01 < model.lang_embedding.weight.std().item() < 0.03
    with torch.no_grad():
        model._lang_ids = None
        plain, _ = model.forward(input_signal=sig, input_signal_length=lens)
        model._lang_ids = torch.tensor([-1, -1])
        no_hint, _ = model.forward(input_signal=sig, input_signal_length=lens)
        model._lang_ids = torch.tensor([1, 2])
        hinted, _ = model.forward(input_signal=sig, input_signal_length=lens)
    model._lang_ids = None
    torch.testing.assert_close(plain, no_hint)
    diff = (hinted - plain)[:, :, 0]
    torch.testing.assert_close(diff, model.lang_embedding.weight[[1, 2]].detach())


def test_language_embedding_can_be_switched_off(stage1_dir):
    m = build(stage1_dir, lang_embedding=False)
    assert m.lang_embedding is None
    assert not any("lang_embedding" in n for n, _ in m.named_parameters())


def test_ctc_warmup_and_encoder_freeze_follow_the_step(stage1_dir):
    m = build(stage1_dir)
    m.recipe.update(ctc_warmup_steps=3000, ctc_weight=0.3, freeze_encoder_steps=5000)
    m.train()
    m.apply_schedules(0)
    assert m.ctc_loss_weight == 0.0
    assert not any(p.requires_grad for p in m.encoder.parameters())
    assert all(p.requires_grad for p in m.decoder.parameters())
    assert not m.encoder.training
    m.apply_schedules(1500)
    assert m.ctc_loss_weight == pytest.approx(0.15)
    m.apply_schedules(4999)
    assert m.ctc_loss_weight == pytest.approx(0.3)
    assert not any(p.requires_grad for p in m.encoder.parameters())
    m.apply_schedules(5000)
    assert all(p.requires_grad for p in m.encoder.parameters()) and m.encoder.training


def test_differential_lr_groups_and_cosine_schedule(stage1_dir):
    from maya.stage1.model import cosine_lr_factor

    m = build(stage1_dir)
    m.recipe.update(encoder_lr=2e-5, head_lr=1e-3, warmup_steps=2000, min_lr=1e-5, max_steps=200000)
    opt_cfg = m.configure_optimizers()
    opt = opt_cfg["optimizer"]
    enc, head = opt.param_groups
    assert (enc["name"], head["name"]) == ("encoder", "head")
    enc_ids = {id(p) for p in enc["params"]}
    assert enc_ids == {id(p) for p in m.encoder.parameters()} | {id(p) for p in m.preprocessor.parameters()}
    head_ids = {id(p) for p in head["params"]}
    for part in (m.decoder, m.joint, m.ctc_decoder, m.lang_embedding):
        assert {id(p) for p in part.parameters()} <= head_ids
    assert enc_ids | head_ids == {id(p) for p in m.parameters()} and not enc_ids & head_ids
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["betas"] == (0.9, 0.98)
    assert opt.defaults["weight_decay"] == pytest.approx(1e-4)
    assert enc["lr"] == pytest.approx(2e-5 / 2000) and head["lr"] == pytest.approx(1e-3 / 2000)  # warm-up step 0
    assert cosine_lr_factor(1999, 2000, 200000, 1e-3, 1e-5) == pytest.approx(1.0)
    assert cosine_lr_factor(200000, 2000, 200000, 1e-3, 1e-5) * 1e-3 == pytest.approx(1e-5)
    mid = cosine_lr_factor(101000, 2000, 200000, 1e-3, 1e-5)
    assert mid == pytest.approx(0.01 + 0.99 * 0.5, rel=1e-3)
    # The encoder LR never falls below min_lr either.
    assert cosine_lr_factor(200000, 2000, 200000, 2e-5, 1e-5) * 2e-5 == pytest.approx(1e-5)


def test_training_step_runs_the_cpu_tdt_loss_and_reaches_every_head(stage1_dir):
    m = build(stage1_dir)
    m.recipe.update(ctc_warmup_steps=0, ctc_weight=0.3)
    m.apply_schedules(10)
    m.train()
    sig, lens = _batch(3)
    tok = torch.tensor([[5, 6, 7], [8, 9, 0], [10, 0, 0]])
    m._take_lang((sig, lens, tok, torch.tensor([3, 2, 1]), torch.tensor([0, 1, 2])))
    enc, enc_len = m.forward(input_signal=sig, input_signal_length=lens)
    dec, _, _ = m.decoder(targets=tok, target_length=torch.tensor([3, 2, 1]))
    loss, _, _, _ = m.joint(
        encoder_outputs=enc,
        decoder_outputs=dec,
        encoder_lengths=enc_len,
        transcripts=tok,
        transcript_lengths=torch.tensor([3, 2, 1]),
        compute_wer=False,
    )
    ctc = m.ctc_loss(
        log_probs=m.ctc_decoder(encoder_output=enc),
        targets=tok,
        input_lengths=enc_len,
        target_lengths=torch.tensor([3, 2, 1]),
    )
    total = 0.7 * loss + 0.3 * ctc
    total.backward()
    assert torch.isfinite(total)
    for part in (m.encoder, m.decoder, m.joint, m.ctc_decoder, m.lang_embedding):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters()), part


def test_save_restore_and_transcribe_in_a_fresh_process(model, stage1_dir):
    path = stage1_dir / "m.nemo"
    model.save_to(str(path))
    wavs = []
    for i in range(2):
        w = stage1_dir / f"a{i}.wav"
        sf.write(w, (np.random.default_rng(i).standard_normal(16000 + 4000 * i) * 0.1).astype(np.float32), 16000)
        wavs.append(str(w))
    script = textwrap.dedent(f"""
        import json, sys
        from nemo.collections.asr.models import ASRModel
        out = {{}}
        try:
            ASRModel.restore_from({str(path)!r})
            out["without_maya"] = "restored"
        except Exception as e:
            out["without_maya"] = type(e).__name__ + ": " + str(e)[:200]
        import maya
        from maya.stage1.inference import load_model, transcribe
        m = load_model({str(path)!r}, "cpu")
        out["class"] = type(m).__name__
        out["tdt_hi"] = transcribe(m, {wavs!r}, lang="hi", decoder="tdt")
        out["tdt_none"] = transcribe(m, {wavs!r}, lang=None, decoder="tdt")
        out["ctc_hi"] = transcribe(m, {wavs!r}, lang="hi", decoder="ctc")
        out["weights"] = float(sum(p.double().sum() for p in m.parameters()))
        print("RESULT" + json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert "not allowed" in out["without_maya"].lower() or "unsafe" in out["without_maya"].lower(), out["without_maya"]
    assert out["class"] == "MayaHybridTDTCTC"
    for k in ("tdt_hi", "tdt_none", "ctc_hi"):
        assert len(out[k]) == 2 and all(isinstance(t, str) for t in out[k])
    assert out["weights"] == pytest.approx(float(sum(p.double().sum() for p in model.parameters())), rel=1e-9)


def test_transcribe_cli_names_a_missing_model(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "maya.cli", "transcribe", "--model", str(tmp_path / "no.nemo"), "a.wav"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 1 and "no.nemo: model not found" in proc.stderr
    help_ = subprocess.run(
        [sys.executable, "-m", "maya.cli", "transcribe", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert help_.returncode == 0 and "--lang" in help_.stdout


def test_unknown_language_hint_is_a_clear_error(model):
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        model.lang_id("xx")
