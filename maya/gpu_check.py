"""`make gpu-check`: the day a GPU is available, measure what the launch plan assumes.

Nothing is downloaded; every model has random weights with the configured shapes.

1. **TDT loss**: NeMo's CUDA (Numba) TDT loss against our vectorised PyTorch loss on the same random
   logits, forward and gradients (relative difference; goal 1e-4). Without CUDA: skipped, said so.
2. **Stage 1**: the configured model (production: 42 x 1024, 32K vocabulary, fused joint) trained for
   ``steps`` optimizer steps through Lightning on one device at the sampler's caps (the longest
   bucket: as many 20 s clips as the duration and clip caps allow, tokens at the cap): step time,
   ``torch.cuda.max_memory_allocated`` against ``maya/stage1/memory.py``'s prediction for the same
   batch, and the achieved utilisation (``maya/flops.py``'s FLOPs / step time / the GPU's peak).
3. **Stage 2b**: the projection and a Gemma-3-1B-shaped random LLM (the configured LLM's config)
   under DeepSpeed ZeRO-2 on one GPU, bf16 autocast: step time and peak memory (plain AdamW on CPU).
4. **Decoding**: TDT greedy RTFx of the Stage-1 model at batch 32.

``results/plan/gpu_calibration.json`` is what the launch plan reads; the same code runs on CPU with a
tiny model in the tests, so it is known to work before a GPU is ever lent.
"""

from __future__ import annotations

import os
import random
import string
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from maya import flops
from maya.plan import GPU_PEAK_TFLOPS
from maya.stage1.memory import predicted_peak_gb


def gpu_kind() -> str | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((k for k in GPU_PEAK_TFLOPS if k in name), name)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def synthetic_tokenizer(out_dir: Path, vocab: int) -> Path:
    """A SentencePiece BPE model with exactly ``vocab`` pieces, in NeMo's tokenizer-dir format: only
    the shapes matter here, so most pieces are user-defined symbols and the text is synthetic."""
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    text = out_dir / "text.txt"
    alphabet = string.ascii_lowercase
    text.write_text(
        "\n".join(" ".join("".join(rng.choices(alphabet, k=rng.randint(2, 7))) for _ in range(12)) for _ in range(4000))
    )
    learned = min(vocab - 30, 300)
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(out_dir / "tokenizer"),
        vocab_size=vocab,
        model_type="bpe",
        user_defined_symbols=[f"<s{i}>" for i in range(vocab - learned)],
        character_coverage=1.0,
        minloglevel=2,
    )
    pieces = [line.split("\t")[0] for line in (out_dir / "tokenizer.vocab").read_text().splitlines()]
    (out_dir / "vocab.txt").write_text("\n".join(pieces) + "\n")
    return out_dir


def tdt_loss_check(vocab: int = 1024) -> dict[str, Any]:
    from maya.stage1.tdt_loss import TDTLossVectorized

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device: NeMo's TDT loss is CUDA-only"}
    from nemo.collections.asr.losses.rnnt import RNNTLoss

    durations = [0, 1, 2, 3, 4]
    g = torch.Generator().manual_seed(0)
    b, t, u = 4, 120, 30
    acts = torch.randn(b, t, u + 1, vocab + 1 + len(durations), generator=g) * 2
    labels = torch.randint(0, vocab, (b, u), generator=g)
    act_lens, label_lens = torch.full((b,), t), torch.full((b,), u)
    kw = {"durations": durations, "sigma": 0.02, "omega": 0.1}
    numba = RNNTLoss(num_classes=vocab, reduction=None, loss_name="tdt", loss_kwargs=kw)
    a_gpu = acts.cuda().requires_grad_()
    ref = numba(log_probs=a_gpu, targets=labels.cuda(), input_lengths=act_lens.cuda(), target_lengths=label_lens.cuda())
    (g_ref,) = torch.autograd.grad(ref.sum(), a_gpu)
    a_cpu = acts.double().requires_grad_()
    ours = TDTLossVectorized(blank=vocab, **kw)(a_cpu, labels, act_lens, label_lens)
    (g_ours,) = torch.autograd.grad(ours.sum(), a_cpu)
    rel = lambda x, y: float((x - y).abs().max() / y.abs().max().clamp_min(1e-12))  # noqa: E731
    out = {
        "loss_rel_diff": rel(ours.float(), ref.detach().cpu().float()),
        "grad_rel_diff": rel(g_ours.float(), g_ref.cpu().float()),
        "shape": [b, t, u, vocab],
    }
    out["ok"] = out["loss_rel_diff"] < 1e-4 and out["grad_rel_diff"] < 1e-4
    return out


class _Synthetic(torch.utils.data.Dataset):
    """``n`` identical-shape batches of random audio and tokens (the worst bucket at the caps)."""

    def __init__(self, n: int, batch: int, seconds: float, tokens: int, vocab: int):
        self.n, self.batch, self.samples, self.tokens, self.vocab = n, batch, int(seconds * 16000), tokens, vocab

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        audio = torch.randn(self.batch, self.samples, generator=g) * 0.1
        tok = torch.randint(0, self.vocab, (self.batch, self.tokens), generator=g)
        return (
            audio,
            torch.full((self.batch,), self.samples),
            tok,
            torch.full((self.batch,), self.tokens),
            torch.zeros(self.batch, dtype=torch.long),
        )


def stage1_check(config: Mapping[str, Any], work: Path, steps: int) -> tuple[dict[str, Any], Any]:
    import lightning.pytorch as pl

    from maya.stage1.train import build_model

    s1 = config["stage1"]
    model_cfg, samp = s1["model"], s1["sampler"]
    vocab = config["tokenizer"]["vocab_size"]
    tok_dir = synthetic_tokenizer(work / f"tokenizer{vocab}", vocab)
    longest = config["data"]["bucket_edges_s"][-1]
    batch = max(1, min(samp["max_batch_size"], int(samp["max_batch_duration_s"] // longest)))
    tokens = max(
        1, min(int(samp["max_tokens_in_batch"] // batch), flops.encoder_frames(model_cfg, int(longest * 100) + 1) - 1)
    )
    gpu = torch.cuda.is_available()
    trainer_cfg = {**s1["trainer"], "devices": 1, "num_nodes": 1, "strategy": "auto"}
    times: list[float] = []

    class Clock(pl.Callback):
        def on_train_batch_start(self, *a):
            _sync()
            self.t = time.perf_counter()

        def on_train_batch_end(self, *a):
            _sync()
            times.append(time.perf_counter() - self.t)

    trainer = pl.Trainer(
        accelerator="gpu" if gpu else "cpu",
        devices=1,
        precision="bf16-mixed" if gpu else "32-true",
        max_steps=steps,
        accumulate_grad_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Clock()],
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=str(work),
    )
    cfg = {**config, "stage1": {**s1, "trainer": trainer_cfg, "optim": {**s1["optim"], "freeze_encoder_steps": 0}}}
    model = build_model(cfg, tok_dir, trainer=trainer)
    loader = torch.utils.data.DataLoader(_Synthetic(steps, batch, longest, tokens, vocab), batch_size=None)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(model, loader)
    warm = times[min(3, len(times) - 1) :] if times else [float("nan")]
    step_s = sum(warm) / len(warm)
    n_params = sum(p.numel() for p in model.parameters())
    t_in = int(longest * 100) + 1
    step_flops = sum(flops.stage1_step(model_cfg, vocab, batch, t_in, tokens).values())
    kind = gpu_kind()
    peak = GPU_PEAK_TFLOPS.get(kind or "", 0.0) * 1e12
    predicted = predicted_peak_gb(model_cfg, n_params, vocab, batch, flops.encoder_frames(model_cfg, t_in), tokens)
    out = {
        "device": torch.cuda.get_device_name(0) if gpu else "cpu",
        "parameters": n_params,
        "batch": {"clips": batch, "seconds": longest, "tokens_per_clip": tokens},
        "steps": len(times),
        "s_per_step": step_s,
        "tflops_per_step": step_flops / 1e12,
        "achieved_utilisation": step_flops / step_s / peak if peak else None,
        "predicted_peak_gb": predicted,
        "measured_peak_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
    }
    if out["measured_peak_gb"]:
        out["memory_model_error"] = predicted / out["measured_peak_gb"] - 1
    return out, model


def decode_check(model, batch: int = 32, seconds: float = 10.0) -> dict[str, Any]:
    device = next(model.parameters()).device
    model.eval()
    audio = torch.randn(batch, int(seconds * 16000), device=device) * 0.1
    lens = torch.full((batch,), audio.shape[1], device=device)
    model.decode_audio(audio[:2], lens[:2], None, "tdt")  # warm-up
    _sync()
    t = time.perf_counter()
    model.decode_audio(audio, lens, None, "tdt")
    _sync()
    took = time.perf_counter() - t
    return {"batch": batch, "audio_s": batch * seconds, "decode_s": took, "rtfx": batch * seconds / took}


def stage2b_check(config: Mapping[str, Any], llm_cfg, steps: int) -> dict[str, Any]:
    """Projection + LLM trained with random data: ZeRO-2 (DeepSpeed, bf16 autocast) on a GPU."""
    from transformers import AutoModelForCausalLM

    from maya.stage2.projection import Projection

    gpu = torch.cuda.is_available()
    d_enc = config["stage1"]["model"]["d_model"]
    torch.manual_seed(0)

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.projection = Projection(d_enc, llm_cfg.hidden_size, config["stage2"]["projection_downsample"])
            self.llm = AutoModelForCausalLM.from_config(llm_cfg)

        def forward(self, enc, targets):
            audio = self.projection(enc, torch.full((enc.shape[0],), enc.shape[-1], device=enc.device))[0]
            text = self.llm.get_input_embeddings()(targets)
            hidden = self.llm.model(inputs_embeds=torch.cat([audio.transpose(1, 2), text], 1)).last_hidden_state
            logits = self.llm.lm_head(hidden[:, -targets.shape[1] - 1 : -1]).float()
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    samp = config["stage2"]["sampler"]
    longest = config["data"]["bucket_edges_s"][-1]
    batch = max(1, min(samp["max_batch_size"], int(samp["max_batch_duration_s"] // longest)))
    frames = flops.encoder_frames(config["stage1"]["model"], int(longest * 100) + 1)
    tokens = max(1, min(int(samp["max_tokens_in_batch"] // batch), 200))
    net = Head()
    n_params = sum(p.numel() for p in net.parameters())
    zero = None
    if gpu:
        import deepspeed

        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29511")
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("LOCAL_RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
        ds = {
            **config["stage2"]["deepspeed"],
            "gradient_accumulation_steps": 1,
            "torch_autocast": {"enabled": True, "dtype": "bfloat16"},
        }
        engine, *_ = deepspeed.initialize(
            model=net,
            model_parameters=[p for p in net.parameters() if p.requires_grad],
            optimizer=torch.optim.AdamW(net.parameters(), lr=1e-5),
            config=ds,
        )
        zero = engine.zero_optimization_stage()
        device = engine.device
        torch.cuda.reset_peak_memory_stats()

        def step(enc, tgt):
            loss = engine(enc, tgt)
            engine.backward(loss)
            engine.step()
    else:
        device = torch.device("cpu")
        opt = torch.optim.AdamW(net.parameters(), lr=1e-5)

        def step(enc, tgt):
            loss = net(enc, tgt)
            loss.backward()
            opt.step()
            opt.zero_grad()

    times = []
    for i in range(steps):
        g = torch.Generator().manual_seed(i)
        enc = torch.randn(batch, d_enc, frames, generator=g).to(device)
        tgt = torch.randint(0, llm_cfg.vocab_size, (batch, tokens), generator=g).to(device)
        _sync()
        t = time.perf_counter()
        step(enc, tgt)
        _sync()
        times.append(time.perf_counter() - t)
    warm = times[min(2, len(times) - 1) :]
    return {
        "parameters": n_params,
        "zero_stage": zero,
        "batch": {"clips": batch, "encoder_frames": frames, "tokens_per_clip": tokens},
        "steps": len(times),
        "s_per_step": sum(warm) / len(warm),
        "measured_peak_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
    }


def run(config: Mapping[str, Any], work: Path, steps: int = 20, stage2_steps: int = 10) -> dict[str, Any]:
    from maya.stage2.llm import llm_config

    started = time.perf_counter()
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "gpu_kind": gpu_kind(),
        "torch": torch.__version__,
    }
    out["tdt_loss"] = tdt_loss_check()
    out["stage1"], model = stage1_check(config, work, steps)
    out["decode"] = decode_check(
        model, batch=32 if torch.cuda.is_available() else 4, seconds=10.0 if torch.cuda.is_available() else 2.0
    )
    del model
    llm_cfg, origin = llm_config(config["stage2"]["llm"])
    out["stage2b"] = {**stage2b_check(config, llm_cfg, stage2_steps), "llm_config_from": origin}
    out["wall_s"] = time.perf_counter() - started
    return out
