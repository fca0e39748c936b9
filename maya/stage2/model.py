"""Stage 2/3 model: NeMo speechlm2's SALM with our Stage-1 encoder, projection and Gemma-3.

``MayaSALM`` subclasses ``nemo.collections.speechlm2.models.SALM`` and keeps its perception module
(``AudioPerceptionModule``: NeMo preprocessor + encoder + our ``Projection`` as the modality adapter),
its out-of-LLM token embedding and its ``configure_model``/``generate`` machinery. It builds the parts
itself instead of calling ``SALM.__init__``, because SALM:

- never resizes the LLM embeddings for added tokens (our 12 language tokens and ``<|transcribe|>``);
- loads the encoder with ``strict=False`` and reports nothing (ours checks every encoder and
  preprocessor tensor arrived and says what was left: the Stage-1 heads and ``lang_embedding``);
- freezes parameters in ``configure_optimizers``, after DDP has wrapped the model, so 2-process DDP
  fails on unused parameters (ours freezes here, per stage);
- has one optimizer group (ours: the projection and the LLM at their own learning rates);
- computes 262K-way logits at every position (ours only where a transcript token is predicted).

After the first build the config carries the perception and LLM configs and
``pretrained_weights: false``, so ``MayaSALM.load_from_checkpoint(path)`` rebuilds the same network
without the Stage-1 ``.nemo`` or the LLM weights, then loads the trained ones.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from lightning import LightningModule
from omegaconf import DictConfig, OmegaConf

import maya  # noqa: F401  (our Stage-1 class must be importable for ASRModel.restore_from)
from maya.stage1.model import cosine_lr_factor
from maya.stage2.sequence import IGNORE, build_sequences
from maya.tokenizers import TRANSCRIBE_TOKEN, language_token
from maya.training_hooks import SamplerState, ValidationRecords, error_rate_metrics

log = logging.getLogger(__name__)

PROJECTION_TARGET = "maya.stage2.projection.Projection"
# What each stage trains (build guide 4.3/4.4); everything else is frozen.
TRAINABLE = {
    "stage2a": ("projection",),
    "stage2b": ("projection", "llm", "encoder_lora"),
    "stage3": ("projection", "llm", "encoder_lora"),
}

try:  # SALM's module imports peft, lhotse and transformers: import on first use, not at DAG time
    from nemo.collections.speechlm2.models.salm import SALM
except ImportError as e:  # pragma: no cover - reported when the class is used
    raise ImportError(f"NeMo speechlm2 is not importable ({e}); install peft next to nemo_toolkit[asr]") from e


def as_batch(batch) -> dict:
    """The Stage-1 collate's tuple (audio, audio_lens, tokens, token_lens, lang_ids) as SALM-style keys:
    Stage 2 reads the same clip table layout through the same dataset and sampler."""
    if isinstance(batch, dict):
        return batch
    return dict(zip(("audio", "audio_lens", "tokens", "token_lens", "lang_ids"), batch, strict=True))


class MayaSALM(SamplerState, ValidationRecords, SALM):
    def __init__(self, cfg: dict[str, Any]):
        from nemo.collections.common.tokenizers import AutoTokenizer
        from nemo.collections.speechlm2.modules import AudioPerceptionModule
        from transformers import AutoConfig, AutoModelForCausalLM

        LightningModule.__init__(self)
        self.cfg = DictConfig(cfg)
        c = self.cfg
        self.tokenizer = AutoTokenizer(c.tokenizer_path, use_fast=True)
        hf_tok = self.tokenizer.tokenizer
        self.languages = list(c.languages)
        self.prompt_token_ids = {
            lang: hf_tok.convert_tokens_to_ids([language_token(lang), TRANSCRIBE_TOKEN]) for lang in self.languages
        }
        if any(i == hf_tok.unk_token_id for ids in self.prompt_token_ids.values() for i in ids):
            raise ValueError(
                f"{c.tokenizer_path} lacks <|transcribe|> or a language token: build it with the gemma_tokenizer rule"
            )

        if c.pretrained_weights:
            llm = AutoModelForCausalLM.from_pretrained(c.pretrained_llm, torch_dtype=torch.float32)
        else:
            llm = AutoModelForCausalLM.from_config(
                AutoConfig.for_model(**OmegaConf.to_container(c.llm_config)), torch_dtype=torch.float32
            )
        # Resize while the embedding is still inside the LLM, so the lm_head tie follows.
        if llm.get_input_embeddings().num_embeddings != len(hf_tok):
            llm.resize_token_embeddings(len(hf_tok), mean_resizing=bool(c.pretrained_weights))
        self.llm = llm
        self.embed_tokens = llm.model.embed_tokens  # SALM keeps it outside the LLM (FSDP/TP hooks)
        del llm.model.embed_tokens

        self.load_report = self._build_perception(AudioPerceptionModule)
        if c.get("encoder_lora"):  # a 2b/3 checkpoint: the adapters exist before its weights load
            self._add_encoder_lora(c.encoder_lora)
        self._use_fsdp = self._use_tp = False
        self.sampler, self._val_records = None, []
        self.freeze_for_stage(c.stage)
        resolved = OmegaConf.to_container(self.cfg, resolve=True)
        resolved.update(pretrained_weights=False, llm_config=self.llm.config.to_dict())
        self.cfg = DictConfig(resolved)
        self.save_hyperparameters({"cfg": resolved})

    def _build_perception(self, perception_cls) -> dict:
        c = self.cfg
        hidden = self.llm.config.hidden_size
        if c.pretrained_weights:
            from nemo.collections.asr.models import ASRModel

            asr = ASRModel.restore_from(c.pretrained_asr, map_location="cpu").eval()
            perception = {
                "preprocessor": OmegaConf.to_container(asr.cfg.preprocessor),
                "encoder": OmegaConf.to_container(asr.cfg.encoder),
            }
            state = asr.state_dict()
        else:
            perception, state = OmegaConf.to_container(c.perception), None
        perception["modality_adapter"] = {
            "_target_": PROJECTION_TARGET,
            "input_dim": perception["encoder"]["d_model"],
            "output_dim": hidden,
            "downsample": int(c.projection_downsample),
        }
        perception["output_dim"] = hidden
        self.cfg.perception = perception
        self.perception = perception_cls(self.cfg.perception).train()
        if state is None:
            return {}
        wanted = {k: v for k, v in state.items() if k.startswith(("encoder.", "preprocessor."))}
        missing, unexpected = self.perception.load_state_dict(wanted, strict=False)
        missing = [k for k in missing if not k.startswith("modality_adapter.")]
        if missing or unexpected:
            raise RuntimeError(
                f"{c.pretrained_asr}: the Stage-1 encoder does not fit the perception module "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        left = sorted({k.split(".")[0] for k in state if k not in wanted})
        report = {
            "encoder_tensors_loaded": sum(k.startswith("encoder.") for k in wanted),
            "preprocessor_tensors_loaded": sum(k.startswith("preprocessor.") for k in wanted),
            "stage1_modules_not_used": left,
        }
        log.info("Stage-1 encoder from %s: %s", c.pretrained_asr, report)
        return report

    def _add_encoder_lora(self, lora) -> None:
        """LoRA adapters (peft) on the encoder's ``target_modules`` linear layers. The base weights
        stay as they are (the adapters' B matrices start at zero, so the output does not change)."""
        from peft import LoraConfig, inject_adapter_in_model

        targets = list(lora["target_modules"])
        found = {
            n.rsplit(".", 1)[-1] for n, m in self.perception.encoder.named_modules() if isinstance(m, torch.nn.Linear)
        }
        if not set(targets) <= found:
            raise ValueError(
                f"encoder_lora.target_modules {sorted(set(targets) - found)} are not linear layers of "
                f"the encoder (it has {', '.join(sorted(found))})"
            )
        inject_adapter_in_model(
            LoraConfig(
                r=int(lora["rank"]),
                lora_alpha=float(lora["alpha"]),
                lora_dropout=float(lora["dropout"]),
                target_modules=targets,
            ),
            self.perception.encoder,
        )

    # ---- stages ------------------------------------------------------------------------
    def groups(self) -> dict[str, list[torch.nn.Parameter]]:
        def unique(*modules):  # lm_head.weight is the (moved-out) embedding matrix: count it once
            return list({id(p): p for m in modules for p in m.parameters()}.values())

        encoder = unique(self.perception.encoder, self.perception.preprocessor)
        lora = [p for n, p in self.perception.encoder.named_parameters() if ".lora_" in n]
        lora_ids = {id(p) for p in lora}
        return {
            "projection": unique(self.perception.modality_adapter, self.perception.proj),
            "llm": unique(self.llm, self.embed_tokens),
            "encoder": [p for p in encoder if id(p) not in lora_ids],
            "encoder_lora": lora,
        }

    def freeze_for_stage(self, stage: str) -> None:
        """Trainable: the projection (2a); the projection, the whole LLM and the encoder's LoRA
        adapters if any (2b, 3). The encoder's own weights stay frozen and in eval mode (no dropout)
        in every stage."""
        if stage not in TRAINABLE:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(TRAINABLE)}")
        for name, params in self.groups().items():
            for p in params:
                p.requires_grad_(name in TRAINABLE[stage])

    def for_stage(self, stage: str, optim: dict, encoder_lora: dict | None = None) -> MayaSALM:
        """Continue as ``stage`` (stage2b from stage2a, stage3 from stage2b): new trainable set and
        optimizer settings. ``encoder_lora`` (rank > 0) adds LoRA adapters to the encoder once; a
        model that has them (stage3 from a LoRA 2b) keeps its own."""
        cfg = OmegaConf.to_container(self.cfg, resolve=True)
        cfg.update(stage=stage, optim=dict(optim))
        if encoder_lora and encoder_lora.get("rank", 0) > 0 and not cfg.get("encoder_lora"):
            self._add_encoder_lora(encoder_lora)
            cfg["encoder_lora"] = dict(encoder_lora)
        self.cfg = DictConfig(cfg)
        self.freeze_for_stage(stage)
        self.save_hyperparameters({"cfg": cfg})
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        for name, module in (
            ("encoder", self.perception.encoder),
            ("encoder", self.perception.preprocessor),
            ("llm", self.llm),
        ):
            if name not in TRAINABLE[self.cfg.stage]:
                module.eval()
        return self

    def configure_optimizers(self):
        o = self.cfg.optim
        lrs = {
            "projection": o.projection_lr,
            "llm": o.llm_lr,
            "encoder_lora": o.get("encoder_lora_lr", o.projection_lr),
        }
        groups = [
            {"name": n, "params": [p for p in ps if p.requires_grad], "lr": lrs[n]}
            for n, ps in self.groups().items()
            if n in TRAINABLE[self.cfg.stage] and ps
        ]
        opt = torch.optim.AdamW(groups, betas=tuple(o.betas), weight_decay=o.weight_decay)
        lambdas = [
            lambda s, base=g["lr"]: cosine_lr_factor(s, o.warmup_steps, o.max_steps, base, o.min_lr * base)
            for g in groups
        ]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambdas)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # ---- forward / loss ----------------------------------------------------------------
    def prompts(self, lang_ids: torch.Tensor) -> torch.Tensor:
        table = torch.tensor([self.prompt_token_ids[lang] for lang in self.languages], device=lang_ids.device)
        return table[lang_ids]

    def encode_audio(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoded, lens = self.perception(input_signal=audio, input_signal_length=audio_lens)
        return encoded, lens  # (B, T', H)

    def sequences(self, batch, with_targets: bool = True, left_pad: bool = False):
        batch = as_batch(batch)
        audio, lens = self.encode_audio(batch["audio"], batch["audio_lens"])
        hf = self.tokenizer.tokenizer
        return build_sequences(
            audio,
            lens,
            self.prompts(batch["lang_ids"]),
            self.embed_tokens,
            hf.bos_token_id,
            hf.pad_token_id,
            hf.eos_token_id,
            batch["tokens"] if with_targets else None,
            batch["token_lens"] if with_targets else None,
            left_pad=left_pad,
        )

    def target_loss(self, batch) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over transcript tokens and <eos>; logits only at those positions."""
        batch = as_batch(batch)
        seq = self.sequences(batch)
        hidden = self.llm.model(inputs_embeds=seq.embeds, attention_mask=seq.attention_mask).last_hidden_state
        at = seq.labels != IGNORE
        logits = self.llm.lm_head(hidden[at])
        cap = getattr(self.llm.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        n = int(at.sum())
        return torch.nn.functional.cross_entropy(logits.float(), seq.labels[at]), n

    def training_step(self, batch, batch_idx: int):
        batch = as_batch(batch)
        loss, n = self.target_loss(batch)
        self.log("train_loss", loss, on_step=True, prog_bar=True, batch_size=int(batch["audio"].shape[0]))
        self.log("target_tokens", float(n), on_step=True, batch_size=int(batch["audio"].shape[0]))
        return loss

    def validation_step(self, batch, batch_idx: int):
        """Teacher-forced loss, then greedy decoding scored per language (CER/WER, over-length rate)."""
        from maya.scoring import normalise_for_scoring

        batch = as_batch(batch)
        loss, _ = self.target_loss(batch)
        d = self.cfg.decoding
        hyps, over = self.transcribe_batch(batch, d.tokens_per_second, d.min_tokens, num_beams=1)
        hf = self.tokenizer.tokenizer
        for i, lang in enumerate(batch["lang_ids"].tolist()):
            ref = hf.decode(batch["tokens"][i, : batch["token_lens"][i]].tolist(), skip_special_tokens=True)
            self._val_records.append(
                {
                    "lang": self.languages[lang],
                    "ref": normalise_for_scoring(ref),
                    "hyp": normalise_for_scoring(hyps[i]),
                    "over": over[i],
                }
            )
        self.log("val_loss", loss.detach(), on_epoch=True, sync_dist=True, batch_size=len(hyps))
        return loss

    def val_metrics(self, records: list[dict]) -> dict:
        return {**error_rate_metrics(records, "hyp"), "val_over_length": sum(r["over"] for r in records) / len(records)}

    def on_train_batch_start(self, batch, batch_idx):
        if self.sampler is not None:
            self.sampler.advance(1)

    # ---- decoding ----------------------------------------------------------------------
    @torch.no_grad()
    def generate_ids(
        self, batch, tokens_per_second: float, min_tokens: int = 8, num_beams: int = 1
    ) -> tuple[list[list[int]], list[bool]]:
        """Greedy (``num_beams`` 1) or beam decoding after ``<|xx|><|transcribe|>``. Each row stops at
        ``<eos>`` or at its cap, ``min_tokens + tokens_per_second * duration``: a row that reaches its
        cap without ``<eos>`` is cut there and flagged over-length (a runaway generation)."""
        from nemo.collections.speechlm2.parts.pretrained import move_embedding

        batch = as_batch(batch)
        hf = self.tokenizer.tokenizer
        seconds = batch["audio_lens"].float() / self.sampling_rate
        caps = (min_tokens + tokens_per_second * seconds).ceil().long().tolist()
        seq = self.sequences(batch, with_targets=False, left_pad=True)
        with move_embedding(self):
            out = self.llm.generate(
                inputs_embeds=seq.embeds,
                attention_mask=seq.attention_mask,
                max_new_tokens=max(caps),
                num_beams=num_beams,
                do_sample=False,
                eos_token_id=hf.eos_token_id,
                pad_token_id=hf.pad_token_id,
                bos_token_id=hf.bos_token_id,
            )
        rows, over = [], []
        for row, cap in zip(out.tolist(), caps, strict=True):
            ends = [i for i, t in enumerate(row[:cap]) if t == hf.eos_token_id]
            over.append(not ends)
            rows.append(row[: ends[0] if ends else cap])
        return rows, over

    def decode_audio(
        self, signal: torch.Tensor, lengths: torch.Tensor, lang_ids: torch.Tensor, decoder: str
    ) -> list[str]:
        """The evaluation interface Stage 1 also has: ``decoder`` is ``greedy`` or ``beam``
        (``decoding.num_beams`` wide). Over-length flags of the batch land in ``last_over_length``."""
        if (lang_ids < 0).any():
            raise ValueError("Stage-2 decoding needs each clip's language: the prompt is <|xx|><|transcribe|>")
        d = self.cfg.decoding
        beams = 1 if decoder == "greedy" else max(2, int(d.num_beams))
        texts, self.last_over_length = self.transcribe_batch(
            {"audio": signal, "audio_lens": lengths, "lang_ids": lang_ids}, d.tokens_per_second, d.min_tokens, beams
        )
        return texts

    def transcribe_batch(
        self, batch, tokens_per_second: float, min_tokens: int = 8, num_beams: int = 1
    ) -> tuple[list[str], list[bool]]:
        rows, over = self.generate_ids(batch, tokens_per_second, min_tokens, num_beams)
        hf = self.tokenizer.tokenizer
        return [hf.decode(r, skip_special_tokens=True).strip() for r in rows], over
