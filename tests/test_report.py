"""reports/eval.html: self-contained, every language row present, renders in headless Chromium."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LANGS = ["en", "hi", "ta"]


def render(html: Path, png: Path, tmp: Path) -> subprocess.CompletedProcess:
    """Headless Chromium screenshot (the flags keep it off the network this machine does not have)."""
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chrome-profile'}",
            "--hide-scrollbars",
            "--window-size=1280,5200",
            f"--screenshot={png}",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def dump_dom(html: Path, tmp: Path) -> str:
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chrome-profile-dom'}",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def check_page(html: Path, langs, tmp: Path):
    text = html.read_text(encoding="utf-8")
    # Self-contained: no external fetches of any kind.
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert text.count("data:image/png;base64,") >= 4
    for lang in langs:
        assert re.search(rf"<td class=\"l\">{lang} \(", text), f"no row for {lang}"
    assert "Published baselines (not ours)" in text and "other test sets" in text
    assert "macro average" in text and "sha256" in text
    # Plots sized to be read: on the 1180 px page, every embedded plot is at least 250 px tall (they
    # used to grow wide with the series and shrink to ~70 px).
    import base64
    import struct

    for b64 in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text):
        width, height = struct.unpack(">II", base64.b64decode(b64[:64])[16:24])  # the PNG's IHDR
        assert min(width, 1180) * height / width >= 250, (width, height)
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root)")
    dom = dump_dom(html, tmp)
    for lang in langs:
        assert f">{lang} (" in dom
    png = tmp / "eval.png"
    proc = render(html, png, tmp)
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(png)[..., :3]
    assert img.shape[0] > 1000 and img.shape[1] >= 1200
    # The embedded plots were decoded and painted: matplotlib's default blue bars are on screen.
    blue = np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255).sum(axis=-1) < 0.1
    assert blue.sum() > 500
    return png


def _inputs(tmp: Path):
    from maya.evaluation import score_hypotheses, summary_rows

    records = []
    for i in range(30):
        lang = LANGS[i % 3]
        records.append(
            {"lang": lang, "ref": f"word{i % 7} two three four", "hyp": f"word{i % 5} two three", "seconds": 2.0}
        )
    scores = score_hypotheses(records, 50, 1)
    rtfx = {
        "utterances": 30,
        "audio_s": 60.0,
        "decode_s": 2.0,
        "read_s": 0.1,
        "rtfx": 30.0,
        "rtfx_end_to_end": 28.6,
        "device": "cpu",
        "batch_size": 8,
        "threads": 2,
        "decoder": "tdt",
        "lang_hint": True,
    }
    d = tmp / "results/eval/stage1/heldout/tdt_greedy"
    d.mkdir(parents=True)
    (d / "scores.json").write_text(json.dumps(scores))
    (d / "rtfx.json").write_text(json.dumps(rtfx))
    import csv

    rows = summary_rows("stage1", "heldout", "tdt_greedy", scores, rtfx)
    with open(tmp / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    balance = {
        "method": "temperature",
        "temperature": 0.3,
        "languages": {
            lang: {"hours_before": h, "share_before": h / 6, "hours_after": 2.0, "share_after": 1 / 3}
            for lang, h in zip(LANGS, [4.0, 1.5, 0.5], strict=True)
        },
    }
    (tmp / "balance.json").write_text(json.dumps(balance))
    qc = {
        "total": {
            "shards": 4,
            "shards_ok": 3,
            "shards_degraded": 1,
            "shards_failed": 0,
            "clips_in": 100,
            "clips_kept": 98,
            "clips_quarantined": 2,
            "hours_kept": 0.1,
            "quarantined_by_reason": {"decode_error": 1, "empty_transcript": 1},
            "failed_shards": [],
        }
    }
    (tmp / "qc.json").write_text(json.dumps(qc))
    (tmp / "metrics.csv").write_text(
        "step,train_loss,val_wer,val_cer,val_wer_ctc,val_cer_ctc\n0,,1.0,0.9,1.0,0.95\n"
        "5,5.0,,,,\n10,4.0,0.8,0.6,0.9,0.7\n"
    )
    return d


def test_report_from_scored_results(tmp_path):
    from maya.report import build_report

    d = _inputs(tmp_path)
    out = tmp_path / "eval.html"
    train = {
        "steps": 1000,
        "wall_s": 600.0,
        "device": "cpu",
        "devices": 1,
        "precision": "32-true",
        "train_clips": 1500,
        "val_clips": 100,
        "parameters": 1_140_000,
        "curve": [],
    }
    (tmp_path / "train.json").write_text(json.dumps(train))
    tpf = {
        "subsampling_factor": 8,
        "by_language": {
            lang: {"clips": 10, "p50": 0.7, "p95": 1.1, "max": 1.2, "over_warn": 8, "unalignable": 2} for lang in LANGS
        },
        "warnings": ["hi: median 0.7 tokens per encoder frame (p95 1.1) is over 0.5"],
    }
    (tmp_path / "bins.json").write_text(json.dumps({"tokens_per_encoder_frame": tpf}))
    info = build_report(
        tmp_path / "summary.csv",
        {"stage1/heldout/tdt_greedy": d / "scores.json"},
        {"stage1/heldout/tdt_greedy": d / "rtfx.json"},
        tmp_path / "balance.json",
        tmp_path / "qc.json",
        tmp_path / "train.json",
        tmp_path / "metrics.csv",
        {"git_commit": "abc", "checkpoint x": "sha256 00"},
        out,
        bins_json=tmp_path / "bins.json",
    )
    assert info["languages"] == sorted(LANGS)
    page = out.read_text()
    # One sentence above the numbers says what the model is, so nobody mistakes a demo for production.
    head = page[: page.index("<h2>")]
    assert (
        "1.14M-parameter Stage-1 model trained for 1,000 steps on 6.00 h" in head and "not a production model" in head
    )
    assert "Tokens per encoder frame (subsampling 8x)" in page and "Warning: hi: median 0.7" in page
    check_page(out, LANGS, tmp_path)


@pytest.mark.workflow
def test_tiny_run_report_renders_in_chromium(tiny_run, tmp_path):
    html = tiny_run / "reports/eval.html"
    png = check_page(html, LANGS, tmp_path)
    shutil.copy(png, tiny_run / "reports/eval.png")  # kept for a person to look at


def test_stage2_note_says_what_the_llm_rows_come_from(tmp_path):
    from maya.report import stage2_note

    paths = {}
    for stage, steps in (("stage2a", 60), ("stage2b", 40), ("stage3", 20)):
        paths[stage] = tmp_path / f"{stage}.json"
        paths[stage].write_text(json.dumps({"steps": steps, "parameters": 17_637_024, "device": "cpu"}))
    note = stage2_note(paths, "random Gemma-3 (2 layers x 64)")
    assert note.startswith(
        "Stage 2a, 2b and 3 rows: the Stage-1 encoder, a projection and random Gemma-3 "
        "(2 layers x 64) as the decoder (17.6M parameters in all), trained for 60, 40 and 20 "
        "steps on cpu"
    )
    assert "not what a pretrained Gemma brings" in note
    assert stage2_note({"stage2a": paths["stage2a"]}, "x").startswith("Stage 2a rows:")
