"""Stage 1 inside the workflow: the tiny run's model and summary, resume after a kill, settings scope."""

import json
import os
import subprocess

import pytest

from tests.helpers import TINY_CONFIG, snakemake, write_config

pytestmark = pytest.mark.workflow
TINY = ("--configfile", "tiny.yaml")


def test_tiny_run_trains_stage1_and_writes_its_summary(tiny_run):
    summary = json.loads((tiny_run / "results/stage1/train_summary.json").read_text())
    assert summary["steps"] == TINY_CONFIG["stage1"]["trainer"]["max_steps"]
    assert summary["device"] == "cpu" and summary["resumed_from"] is None
    steps = [r["step"] for r in summary["curve"]]
    assert steps[0] == 0 and len(steps) >= 3  # before training, during, at the end
    for row in summary["curve"]:
        assert row["val_cer"] >= 0 and row["val_wer"] >= 0 and "val_cer_ctc" in row
    assert set(summary["final_val_per_language"]) <= {"en", "hi", "ta"}
    assert summary["sampler"]["batches"] > 0
    assert (tiny_run / "results/stage1/final.nemo").stat().st_size > 100_000
    assert (tiny_run / "results/stage1/metrics.csv").exists()
    assert (tiny_run / "logs/stage1/train.log").exists()
    ckpts = sorted(p.name for p in (tiny_run / "results/stage1/run/checkpoints").iterdir())
    assert "last.ckpt" in ckpts and any(c.startswith("step") for c in ckpts)
    assert list((tiny_run / "results/stage1/run/logs/tb").glob("events.out.tfevents.*"))


def test_maya_transcribe_on_the_trained_model(tiny_run):
    import sys

    wav = next((tiny_run / "results").rglob("*.flac"), None)
    if wav is None:  # the demo corpus keeps audio in tars; take one clip out for the CLI
        import pyarrow.parquet as pq
        import soundfile as sf

        from maya.audio.reader import AudioRef, TarOffsetReader

        row = pq.read_table(tiny_run / "results/splits/test.parquet").slice(0, 1).to_pylist()[0]
        audio = TarOffsetReader().read(AudioRef(str(tiny_run / row["audio_path"]), row["offset"], row["nbytes"]))
        wav = tiny_run / "clip.wav"
        sf.write(wav, audio, 16000)
    for extra in (["--lang", "hi"], ["--decoder", "ctc"]):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "maya.cli",
                "transcribe",
                "--model",
                str(tiny_run / "results/stage1/final.nemo"),
                *extra,
                str(wav),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tiny_run,
            env={**os.environ, "PYTHONPATH": str(tiny_run)},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]


# Resuming after a kill, mid-epoch with the sampler's position, is tested for Stage 1 through
# Snakemake in tests/test_operations.py (killed, its run directory lost, resumed from the bucket)
# and for Stage 3 from its local run directory in tests/test_stage2_resume.py; a changed setting
# restarting instead of resuming, in tests/test_operations.py too.


def test_readiness_gate_fails_fast_without_gpus(tiny_copy):
    cfg = {
        **TINY_CONFIG,
        "stage1": {
            **TINY_CONFIG["stage1"],
            "trainer": {**TINY_CONFIG["stage1"]["trainer"], "accelerator": "gpu", "devices": 8},
            "init": {"pretrained": "pretrained/missing.nemo"},
        },
    }
    write_config(tiny_copy / "tiny.yaml", cfg)
    proc = snakemake(tiny_copy, "--cores", "2", "results/stage1/final.nemo", *TINY, check=False)
    assert proc.returncode != 0
    log = (tiny_copy / "logs/stage1/readiness.log").read_text()
    assert "GPUs: the trainer wants 8, 0 visible" in log
    assert "pretrained/missing.nemo: pretrained weights not found" in log
    assert not (tiny_copy / "results/stage1/final.nemo").stat().st_mtime > (tiny_copy / "tiny.yaml").stat().st_mtime


# The seed README's inference snippet, verbatim but for the paths (and .cuda() only where a GPU is).
SEED_SNIPPET = """
import nemo.collections.asr as nemo_asr

# Load the trained model
model = nemo_asr.models.EncDecHybridRNNTCTCBPEModel.restore_from("path/to/maya_asr.nemo")
model.eval()
model.cuda()

# Transcribe audio files
transcriptions = model.transcribe(["audio1.wav", "audio2.wav"])
print(transcriptions)

from omegaconf import OmegaConf

decoding_cfg = OmegaConf.create({
    "strategy": "greedy",
    "model_type": "tdt",
    "durations": [0, 1, 2, 3, 4],
    "greedy": {"max_symbols": 10},
})
model.change_decoding_strategy(decoding_cfg)
transcriptions = model.transcribe(["audio.wav"])

transcriptions = model.transcribe(["audio.wav"], return_hypotheses=False, verbose=False)
# Or explicitly switch to CTC decoding:
model.cur_decoder = "ctc"
transcriptions = model.transcribe(["audio.wav"])
"""


def _test_wavs(root, n=2):
    import pyarrow.parquet as pq
    import soundfile as sf

    from maya.audio.reader import AudioRef, TarOffsetReader

    out = []
    for i, row in enumerate(pq.read_table(root / "results/splits/test.parquet").slice(0, n).to_pylist()):
        audio = TarOffsetReader().read(AudioRef(str(root / row["audio_path"]), row["offset"], row["nbytes"]))
        out.append(root / f"audio{i + 1}.wav")
        sf.write(out[-1], audio, 16000)
    return out


def test_stock_nemo_loads_maya_asr_nemo_without_maya(tiny_run):
    """The seed README's snippet in a Python where `import maya` fails; its TDT and CTC transcripts
    are the maya model's without a language hint."""
    import sys

    import torch

    from maya.stage1.inference import load_model, transcribe

    wavs = _test_wavs(tiny_run)
    model_path = tiny_run / "results/stage1/maya_asr.nemo"
    import tarfile

    with tarfile.open(model_path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("model_config.yaml"))
        assert "maya." not in tar.extractfile(member).read().decode()
    code = SEED_SNIPPET.replace("path/to/maya_asr.nemo", str(model_path))
    code = code.replace('"audio1.wav", "audio2.wav"', ", ".join(f'"{w}"' for w in wavs))
    code = code.replace('"audio.wav"', f'"{wavs[0]}"')
    if not torch.cuda.is_available():
        code = code.replace("model.cuda()", "pass")
    probe = (
        "import sys\nsys.modules['maya'] = None  # `import maya` raises ImportError from here on\n"
        + code
        + "\nimport json\nprint('CTC=' + json.dumps([getattr(h, 'text', h) for h in transcriptions]))\n"
        "model.cur_decoder = 'rnnt'\nprint('TDT=' + json.dumps([getattr(h, 'text', h) for h in "
        f"model.transcribe([{', '.join(repr(str(w)) for w in wavs)}])]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=600,
        cwd="/",
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines() if line[:4] in ("CTC=", "TDT="))
    ours = load_model(tiny_run / "results/stage1/final.nemo", "cpu")
    assert json.loads(out["TDT"]) == transcribe(ours, [str(w) for w in wavs], lang=None, decoder="tdt")
    assert json.loads(out["CTC"]) == transcribe(ours, [str(wavs[0])], lang=None, decoder="ctc")
