"""The Stage-1 model: NeMo's hybrid TDT + CTC model with a learned per-language embedding.

``MayaHybridTDTCTC`` is ``EncDecHybridRNNTCTCBPEModel`` plus:

- a (n_languages x d_model) embedding added to every encoder frame (init std 0.02). A batch carries
  language ids as its fifth element; id -1 means "no hint" and adds nothing. Training drops the
  hint with probability ``lang_dropout`` so decoding without one stays sound;
- the recipe schedules: CTC weight ramped 0 -> ``ctc_weight`` over ``ctc_warmup_steps``, encoder
  frozen for ``freeze_encoder_steps`` optimizer steps, AdamW with an encoder and a head LR group,
  cosine schedule with linear warm-up down to ``min_lr``;
- a TDT loss that works everywhere: NeMo's Numba CUDA kernel on GPU, ``TDTLossVectorized`` on CPU;
- validation that decodes (TDT and CTC greedy) and scores WER and CER per language;
- a sampler-state hook, so a resumed run continues mid-epoch with the same batches.

The model is built from ``config["stage1"]`` by ``nemo_config`` and never through
``change_vocabulary`` (which resets a TDT loss to a plain RNN-T loss with the wrong blank).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel
from omegaconf import DictConfig, OmegaConf

import maya  # noqa: F401  (allow-lists the maya. prefix for NeMo restore)
from maya.stage1.modules import module_configs
from maya.stage1.tdt_loss import TDTLossVectorized
from maya.training_hooks import SamplerState, ValidationRecords, error_rate_metrics


def ramp(step: int, warmup: int, target: float) -> float:
    """Linear 0 -> target over ``warmup`` steps (target at once when warmup is 0)."""
    return target if warmup <= 0 else target * min(1.0, step / warmup)


def cosine_lr_factor(step: int, warmup: int, max_steps: int, base_lr: float, min_lr: float) -> float:
    """Multiplier of ``base_lr``: linear warm-up, then cosine decay to ``min_lr``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    floor = min(min_lr / base_lr, 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def nemo_config(
    stage1: Mapping[str, Any], tokenizer_dir: str | Path, languages: Sequence[str], sample_rate: int = 16000
) -> DictConfig:
    """The full NeMo model config (what a ``.nemo`` stores) from ``config["stage1"]``."""
    m, aug, optim = stage1["model"], stage1["augment"], stage1["optim"]
    vocab = [
        line.split("\t")[0]
        for line in (Path(tokenizer_dir) / "tokenizer.vocab").read_text(encoding="utf-8").splitlines()
    ]
    mods = module_configs(m, len(vocab))
    durations = list(m["tdt_durations"])
    mods["joint"]["vocabulary"] = vocab
    mods["ctc_decoder"]["vocabulary"] = vocab
    cfg = {
        "target": f"{MayaHybridTDTCTC.__module__}.{MayaHybridTDTCTC.__name__}",
        "sample_rate": sample_rate,
        "languages": list(languages),
        "lang_embedding": m["lang_embedding"],
        "lang_embedding_init_std": m["lang_embedding_init_std"],
        "lang_dropout": m["lang_dropout"],
        "tokenizer": {"dir": str(tokenizer_dir), "type": "bpe"},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": sample_rate,
            "normalize": "per_feature",
            "window_size": 0.025,
            "window_stride": 0.01,
            "window": "hann",
            "features": m["n_mels"],
            "n_fft": 512,
            "log": True,
            "frame_splicing": 1,
            "dither": 1.0e-5,
            "pad_to": 0,
            "pad_value": 0.0,
        },
        "spec_augment": {
            "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
            "freq_masks": aug["freq_masks"],
            "freq_width": aug["freq_width"],
            "time_masks": aug["time_masks"],
            "time_width": aug["time_width"],
        },
        "encoder": mods["encoder"],
        "decoder": mods["decoder"],
        "joint": mods["joint"],
        "model_defaults": {
            "enc_hidden": m["d_model"],
            "pred_hidden": m["pred_hidden"],
            "joint_hidden": m["joint_hidden"],
            "tdt_durations": durations,
            "num_tdt_durations": len(durations),
        },
        "decoding": {
            "strategy": "greedy_batch",
            "model_type": "tdt",
            "durations": durations,
            "greedy": {"max_symbols": 10},
        },
        "loss": {
            "loss_name": "tdt",
            "tdt_kwargs": {
                "fastemit_lambda": 0.0,
                "clamp": -1.0,
                "durations": durations,
                "sigma": m["tdt_sigma"],
                "omega": m["tdt_omega"],
            },
        },
        # One reduction for both heads: mixing mean_volume (per token) with mean_batch (per
        # utterance) silently weights CTC ~U times more than TDT (NeMo issue 14710).
        "rnnt_reduction": m["loss_reduction"],
        "aux_ctc": {
            "ctc_loss_weight": optim["ctc_weight"],
            "ctc_reduction": m["loss_reduction"],
            "use_cer": False,
            "decoder": mods["ctc_decoder"],
            "decoding": {"strategy": "greedy_batch"},
        },
        "recipe": {
            "encoder_lr": optim["encoder_lr"],
            "head_lr": optim["head_lr"],
            "betas": list(optim["betas"]),
            "weight_decay": optim["weight_decay"],
            "warmup_steps": optim["warmup_steps"],
            "min_lr": optim["min_lr"],
            "freeze_encoder_steps": optim["freeze_encoder_steps"],
            "ctc_warmup_steps": optim["ctc_warmup_steps"],
            "ctc_weight": optim["ctc_weight"],
            "max_steps": stage1["trainer"]["max_steps"],
        },
        # Read by NeMo's transcribe(); training data comes from maya's own loaders, not from here.
        "validation_ds": {
            "sample_rate": sample_rate,
            "use_start_end_token": False,
            "manifest_filepath": None,
            "batch_size": 8,
        },
        "optim": {
            "name": "adamw",
            "lr": optim["head_lr"],
            "betas": list(optim["betas"]),
            "weight_decay": optim["weight_decay"],
        },
    }
    return OmegaConf.create(cfg)


class _AutoTDTLoss(torch.nn.Module):
    """NeMo's CUDA TDT kernel for CUDA tensors, the vectorised PyTorch loss otherwise."""

    def __init__(self, numba_loss: torch.nn.Module, cpu_loss: TDTLossVectorized):
        super().__init__()
        self.numba_loss, self.cpu_loss = numba_loss, cpu_loss
        self.reduction = getattr(numba_loss, "reduction", None)

    def forward(self, acts, labels, act_lens, label_lens):
        loss = self.numba_loss if acts.is_cuda else self.cpu_loss
        return loss(acts=acts, labels=labels, act_lens=act_lens, label_lens=label_lens)


class MayaHybridTDTCTC(SamplerState, ValidationRecords, EncDecHybridRNNTCTCBPEModel):
    """NeMo hybrid TDT + CTC with a per-language embedding and the seed README's recipe."""

    def __init__(self, cfg: DictConfig, trainer: Trainer | None = None):
        super().__init__(cfg=cfg, trainer=trainer)
        self.languages = list(self.cfg.languages)
        d_model = self.cfg.encoder.d_model
        if self.cfg.get("lang_embedding", True):
            self.lang_embedding = torch.nn.Embedding(len(self.languages), d_model)
            torch.nn.init.normal_(self.lang_embedding.weight, std=self.cfg.get("lang_embedding_init_std", 0.02))
        else:
            self.lang_embedding = None
        loss_kwargs = self.cfg.loss.get("tdt_kwargs", {})
        self.loss._loss = _AutoTDTLoss(
            self.loss._loss,
            TDTLossVectorized(
                blank=self.loss._blank,
                durations=list(loss_kwargs.get("durations")),
                sigma=loss_kwargs.get("sigma", 0.0),
                omega=loss_kwargs.get("omega", 0.0),
            ),
        )
        self._lang_ids: torch.Tensor | None = None
        self.sampler = None  # set by the training entry point; its state rides in checkpoints
        self._val_records: list[dict] = []
        self.recipe = dict(self.cfg.get("recipe", {}))
        self.ctc_loss_weight = ramp(
            0, self.recipe.get("ctc_warmup_steps", 0), self.recipe.get("ctc_weight", self.ctc_loss_weight)
        )

    # ---- data: maya's loaders (ClipDataset + BucketingBatchSampler) are passed to the Trainer,
    # so NeMo's config-driven dataloaders are never built. validation_ds stays in the config
    # only because NeMo's transcribe() reads it.
    def setup_training_data(self, train_data_config):
        pass

    def setup_multiple_validation_data(self, val_data_config):
        pass

    def setup_multiple_test_data(self, test_data_config):
        pass

    # ---- language ----------------------------------------------------------------------
    def lang_id(self, lang: str | None) -> int:
        if lang is None:
            return -1
        if lang not in self.languages:
            raise ValueError(f"unknown language {lang!r}; this model knows {', '.join(self.languages)}")
        return self.languages.index(lang)

    def forward(self, input_signal=None, input_signal_length=None, processed_signal=None, processed_signal_length=None):
        encoded, encoded_len = super().forward(
            input_signal=input_signal,
            input_signal_length=input_signal_length,
            processed_signal=processed_signal,
            processed_signal_length=processed_signal_length,
        )
        if self.lang_embedding is not None and self._lang_ids is not None:
            ids = self._lang_ids.to(encoded.device)
            known = (ids >= 0).to(encoded.dtype)[:, None, None]
            emb = self.lang_embedding(ids.clamp_min(0)).to(encoded.dtype)  # (B, D)
            encoded = encoded + known * emb[:, :, None]  # encoded is (B, D, T)
        return encoded, encoded_len

    def _take_lang(self, batch):
        if len(batch) >= 5:
            ids = batch[4]
            if self.training and self.cfg.get("lang_dropout", 0.0) > 0:
                drop = torch.rand(ids.shape, device=ids.device) < self.cfg.lang_dropout
                ids = torch.where(drop, torch.full_like(ids, -1), ids)
            self._lang_ids = ids
            return tuple(batch[:4])
        self._lang_ids = None
        return tuple(batch)

    # ---- schedules ---------------------------------------------------------------------
    def apply_schedules(self, step: int) -> None:
        """CTC weight and encoder freeze for optimizer step ``step``."""
        r = self.recipe
        self.ctc_loss_weight = ramp(step, r.get("ctc_warmup_steps", 0), r.get("ctc_weight", 0.3))
        frozen = step < r.get("freeze_encoder_steps", 0)
        for p in self.encoder.parameters():
            p.requires_grad_(not frozen)
        # A frozen encoder also keeps its dropout and batch-norm statistics still.
        if frozen:
            self.encoder.eval()
        elif self.training:
            self.encoder.train()

    def on_train_batch_start(self, batch, batch_idx):
        self.apply_schedules(self.trainer.global_step)
        # Counted before the step: Lightning saves checkpoints in callbacks' on_train_batch_end,
        # which run before this module's, so the saved position must already include this batch.
        if self.sampler is not None:
            self.sampler.advance(1)

    def training_step(self, batch, batch_nb):
        out = super().training_step(self._take_lang(batch), batch_nb)
        self.log("ctc_weight", float(self.ctc_loss_weight), on_step=True, prog_bar=False)
        return out

    # ---- optimizer: two LR groups, cosine with warm-up --------------------------------------
    def param_groups(self) -> list[dict]:
        enc = [p for n, p in self.named_parameters() if n.startswith(("encoder.", "preprocessor."))]
        enc_ids = {id(p) for p in enc}
        head = [p for p in self.parameters() if id(p) not in enc_ids]
        r = self.recipe
        return [
            {"name": "encoder", "params": enc, "lr": r.get("encoder_lr", 2e-5)},
            {"name": "head", "params": head, "lr": r.get("head_lr", 1e-3)},
        ]

    def configure_optimizers(self):
        r = self.recipe
        groups = self.param_groups()
        opt = torch.optim.AdamW(
            groups, betas=tuple(r.get("betas", (0.9, 0.98))), weight_decay=r.get("weight_decay", 1e-4)
        )
        warm, total, min_lr = r.get("warmup_steps", 0), r.get("max_steps", 1), r.get("min_lr", 0.0)
        lambdas = [lambda s, base=g["lr"]: cosine_lr_factor(s, warm, total, base, min_lr) for g in groups]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambdas)
        self._optimizer = opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # ---- validation: decode and score per language -----------------------------------------
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        from maya.scoring import normalise_for_scoring

        signal, signal_len, transcript, transcript_len = self._take_lang(batch)
        langs = self._lang_ids.tolist() if self._lang_ids is not None else [-1] * len(signal)
        encoded, encoded_len = self.forward(input_signal=signal, input_signal_length=signal_len)
        decoder, target_length, _ = self.decoder(targets=transcript, target_length=transcript_len)
        joint = (
            self.joint.joint(encoded.transpose(1, 2), decoder.transpose(1, 2)) if not self.joint.fuse_loss_wer else None
        )
        if joint is not None:
            loss = self.loss(
                log_probs=joint, targets=transcript, input_lengths=encoded_len, target_lengths=target_length
            )
        else:
            loss, _, _, _ = self.joint(
                encoder_outputs=encoded,
                decoder_outputs=decoder,
                encoder_lengths=encoded_len,
                transcripts=transcript,
                transcript_lengths=transcript_len,
                compute_wer=False,
            )
        tdt = self.decode_encoded(encoded, encoded_len, "tdt")
        ctc = self.decode_encoded(encoded, encoded_len, "ctc")
        for i in range(len(signal)):
            ref = self.tokenizer.ids_to_text(transcript[i, : transcript_len[i]].tolist())
            self._val_records.append(
                {
                    "lang": self.languages[langs[i]] if langs[i] >= 0 else "unk",
                    "ref": normalise_for_scoring(ref),
                    "tdt": normalise_for_scoring(tdt[i]),
                    "ctc": normalise_for_scoring(ctc[i]),
                }
            )
        self.log("val_loss", loss.detach(), on_epoch=True, sync_dist=True, batch_size=len(signal))
        return loss

    def val_metrics(self, records: list[dict]) -> dict:
        return {**error_rate_metrics(records, "tdt"), **error_rate_metrics(records, "ctc", "_ctc", per_language=False)}

    # ---- inference -------------------------------------------------------------------------
    def decode_encoded(self, encoded, encoded_len, decoder: str) -> list[str]:
        """Greedy texts from encoder output: ``tdt`` (decoder + joint) or ``ctc`` (CTC head)."""
        if decoder == "tdt":
            hyps = self.decoding.rnnt_decoder_predictions_tensor(encoder_output=encoded, encoded_lengths=encoded_len)
        elif decoder == "ctc":
            logp = self.ctc_decoder(encoder_output=encoded)
            hyps = self.ctc_decoding.ctc_decoder_predictions_tensor(logp, decoder_lengths=encoded_len)
        else:
            raise ValueError(f"decoder must be tdt or ctc, got {decoder!r}")
        return [_text(h) for h in hyps]

    @torch.inference_mode()
    def decode_audio(
        self, signal: torch.Tensor, lengths: torch.Tensor, lang_ids: torch.Tensor | None, decoder: str
    ) -> list[str]:
        """Batched greedy decoding of padded 16 kHz audio, one language hint per utterance (-1: none)."""
        self._lang_ids = lang_ids
        try:
            encoded, encoded_len = self.forward(input_signal=signal, input_signal_length=lengths)
            return self.decode_encoded(encoded, encoded_len, decoder)
        finally:
            self._lang_ids = None

    def use_decoder(self, decoder: str) -> None:
        """``tdt`` (greedy TDT) or ``ctc`` (greedy CTC) for ``transcribe``."""
        kind = {"tdt": "rnnt", "ctc": "ctc"}[decoder]
        if kind != self.cur_decoder:
            self.change_decoding_strategy(decoder_type=kind, verbose=False)

    def transcribe_with_lang(self, audio: list, lang: str | None = None, batch_size: int = 8, **kw):
        """``transcribe`` with a language hint (None: no hint) for every clip."""
        lid = self.lang_id(lang)
        original = self._transcribe_forward

        def forward_with_lang(batch, trcfg):
            self._lang_ids = torch.full((batch[0].shape[0],), lid, dtype=torch.long)
            return original(batch, trcfg)

        self._transcribe_forward = forward_with_lang
        try:
            return self.transcribe(audio, batch_size=batch_size, **kw)
        finally:
            del self._transcribe_forward
            self._lang_ids = None


def _text(h) -> str:
    return h.text if hasattr(h, "text") else str(h)
