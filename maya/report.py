"""``reports/eval.html``: one self-contained page (plots as embedded PNG, no network).

Sections: per-language WER and CER (bars with 95 % CI error bars for every stage and decoder,
then the table, then a macro average); RTFx; training hours per language before and after
balancing; data QC; Stage-1 training curves; published baselines (labelled as other people's
numbers on other test sets); provenance (git commit, config hash, checkpoint sha256, dates).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from markupsafe import Markup

from maya.benchmarks import PUBLISHED

# Build guide + Vistaar README: IndicWhisper WER (%) on Kathbath, shown when no test set of ours is
# Kathbath (one table of published numbers: maya/benchmarks.py).
PUBLISHED_BASELINES = {
    "source": "IndicWhisper (Vistaar benchmark README; build guide), WER % on Kathbath",
    "wer": PUBLISHED["wer"]["kathbath"],
}

LANGUAGE_NAMES = {
    "as": "Assamese",
    "bn": "Bengali",
    "en": "English",
    "gu": "Gujarati",
    "hi": "Hindi",
    "kn": "Kannada",
    "ml": "Malayalam",
    "mr": "Marathi",
    "or": "Odia",
    "pa": "Punjabi",
    "ta": "Tamil",
    "te": "Telugu",
}

CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;
margin:2rem auto;max-width:1180px;color:#1d2433;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}
h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:2px solid #e3e7ef;padding-bottom:.3rem}
h3{font-size:1.05rem;margin-top:1.4rem}
.sub{color:#5b6478;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.88rem}
th,td{padding:.28rem .6rem;border-bottom:1px solid #e3e7ef;text-align:right}
th{background:#f4f6fa;text-align:center}
td.l,th.l{text-align:left}
tr.avg td{font-weight:600;border-top:2px solid #c9cfdb}
.note{background:#fff8e5;border-left:4px solid #f0b429;padding:.5rem .8rem;font-size:.9rem}
.muted{color:#6b7385;font-size:.85rem}
img{max-width:100%;height:auto;border:1px solid #eef0f5;margin:.4rem 0}
code{background:#f4f6fa;padding:0 .25rem;border-radius:3px}
table.matrix td{white-space:nowrap}
details{margin:.4rem 0 1rem}summary{cursor:pointer;color:#3b4a6b}
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _pct(x) -> str:
    try:
        return "-" if x is None or x != x else f"{100 * float(x):.1f}"
    except (TypeError, ValueError):
        return "-"


def _bars(rows: list[dict], metric: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    langs = sorted({r["language"] for r in rows})
    series = sorted({(r["stage"], r["decoder"]) for r in rows})
    # A fixed 11 x 4.2 in: wide enough for 12 languages x every series, and still about 450 px tall on
    # the 1180 px page (a width that grew with the series shrank the height to ~70 px).
    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(langs))
    for k, (stage, dec) in enumerate(series):
        vals, lo, hi = [], [], []
        for lang in langs:
            r = next((r for r in rows if r["language"] == lang and (r["stage"], r["decoder"]) == (stage, dec)), None)
            v = float(r[metric]) * 100 if r else np.nan
            vals.append(v)
            lo.append(v - float(r[f"{metric}_ci_low"]) * 100 if r else 0)
            hi.append(float(r[f"{metric}_ci_high"]) * 100 - v if r else 0)
        ax.bar(
            x + (k - (len(series) - 1) / 2) * width,
            vals,
            width,
            yerr=[np.maximum(lo, 0), np.maximum(hi, 0)],
            capsize=2,
            label=f"{stage} {dec}",
        )
    ax.set_xticks(x, langs)
    ax.set_ylabel(f"{metric.upper()} (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _curves(metrics_csv: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    val, train = {}, {}
    with open(metrics_csv) as f:
        for r in csv.DictReader(f):
            step = int(float(r["step"]))
            for k in ("val_wer", "val_cer", "val_wer_ctc", "val_cer_ctc"):
                if r.get(k):
                    val.setdefault(k, []).append((step, 100 * float(r[k])))
            for k in ("train_loss", "train_rnnt_loss", "train_ctc_loss"):
                if r.get(k):
                    train.setdefault(k, []).append((step, float(r[k])))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for k, pts in train.items():
        a1.plot(*zip(*pts, strict=True), label=k, lw=1)
    a1.set_xlabel("step")
    a1.set_ylabel("loss")
    a1.set_title("Stage 1 training loss")
    a1.legend(fontsize=8, frameon=False)
    for k, pts in val.items():
        a2.plot(*zip(*pts, strict=True), marker="o", ms=3, label=k)
    a2.set_xlabel("step")
    a2.set_ylabel("%")
    a2.set_title("Stage 1 validation (greedy)")
    a2.set_ylim(bottom=0)
    a2.legend(fontsize=8, frameon=False)
    for a in (a1, a2):
        a.grid(alpha=0.3)
    return _png(fig)


def _hours(balance: Mapping) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    langs = sorted(balance["languages"])
    before = [balance["languages"][lang]["hours_before"] for lang in langs]
    after = [balance["languages"][lang]["hours_after"] for lang in langs]
    fig, ax = plt.subplots(figsize=(8, 3))
    x = np.arange(len(langs))
    ax.bar(x - 0.2, before, 0.4, label="before balancing")
    ax.bar(x + 0.2, after, 0.4, label=f"after ({balance['method']}, T={balance['temperature']})")
    ax.set_xticks(x, langs)
    ax.set_ylabel("hours per epoch")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _table(headers: Sequence[str], rows: Sequence[Sequence], left: int = 1, classes: Sequence[str] = ()) -> str:
    out = [
        "<table><tr>"
        + "".join(f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(headers))
        + "</tr>"
    ]
    for k, r in enumerate(rows):
        cls = f' class="{classes[k]}"' if k < len(classes) and classes[k] else ""
        out.append(
            f"<tr{cls}>"
            + "".join(f'<td class="{"l" if i < left else ""}">{html.escape(str(c))}</td>' for i, c in enumerate(r))
            + "</tr>"
        )
    return "\n".join(out) + "</table>"


OVER_LENGTH_NOTE = (
    "over-length: Stage-2 generations cut at the length cap (stage2.decoding) without an "
    "end-of-sequence token, i.e. runaway or hallucinated output; '-' for Stage 1, which cannot run away."
)


def _timings(bench_dir: str | Path) -> str:
    from maya.job_timings import rule_times

    times = rule_times(bench_dir)
    intro = (
        '<h2>Where the time went</h2><p class="muted">Per rule, from Snakemake\'s <code>benchmark:</code> files '
        f"(<code>{html.escape(str(bench_dir))}/{{rule}}/...tsv</code>) of the jobs that ran before this report: "
        "wall time, CPU time (user + system, children included) and peak resident memory. Size "
        "<code>mem_mb</code> and <code>runtime</code> for SLURM from the maxima.</p>"
    )
    if not times:
        return intro + '<p class="muted">No benchmark files yet.</p>'
    rows = [
        [t.rule, t.jobs, f"{t.total_s:,.1f}", f"{t.max_s:,.1f}", f"{t.cpu_s:,.1f}", f"{t.max_rss_mb:,.0f}"]
        for t in times
    ]
    headers = ["rule", "jobs", "wall s, total", "wall s, max", "CPU s, total", "max RSS MB"]
    return intro + _table(headers, rows, left=1)


def _template(name: str):
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("maya", "templates"), autoescape=select_autoescape(["j2", "html"]))
    return env.get_template(name)


def matrix(testset: str, rows: Sequence[Mapping], benchmark: str | None) -> str:
    """One row per language, one column per (stage, decoder): WER / CER with our normalisation and
    Vistaar's, the best WER per language in bold, a macro average, the published baseline."""
    from maya.benchmarks import published_wer

    series = sorted({(r["stage"], r["decoder"]) for r in rows})
    langs = sorted({r["language"] for r in rows})
    by = {(r["language"], r["stage"], r["decoder"]): r for r in rows}

    def num(x):
        return None if x in (None, "") else float(x)

    out = []
    for lang in langs:
        cells = [by.get((lang, *s)) for s in series]
        wers = [num(c["wer"]) for c in cells if c is not None and num(c["wer"]) is not None]
        best = min(wers) if wers else None
        out.append(
            {
                "label": f"{lang} ({LANGUAGE_NAMES.get(lang, '?')})",
                "cells": [
                    None
                    if c is None
                    else {
                        "wer": _pct(c["wer"]),
                        "cer": _pct(c["cer"]),
                        "best": num(c["wer"]) == best and len(series) > 1,
                        "wer_vistaar": _pct(c["wer_vistaar"]) if num(c.get("wer_vistaar")) is not None else None,
                        "cer_vistaar": _pct(c["cer_vistaar"]) if num(c.get("cer_vistaar")) is not None else None,
                    }
                    for c in cells
                ],
                "published": published_wer(benchmark, lang) if benchmark else None,
                "published_note": "not published for this language" if benchmark else "not published for this test set",
            }
        )
    macro = []
    for s in series:
        group = [by[(lang, *s)] for lang in langs if (lang, *s) in by]
        mean = lambda key, g=group: sum(num(r[key]) for r in g) / len(g) if g else None  # noqa: E731
        macro.append(
            {
                "wer": _pct(mean("wer")),
                "cer": _pct(mean("cer")),
                "best": False,
                "wer_vistaar": None,
                "cer_vistaar": None,
            }
        )
    published = [published_wer(benchmark, lang) for lang in langs] if benchmark else []
    published = [p for p in published if p is not None]
    out.append(
        {
            "label": f"macro average of {len(langs)} languages",
            "average": True,
            "cells": macro,
            "published": round(sum(published) / len(published), 1) if published else None,
            "published_note": "-",
        }
    )
    return _template("matrix.html.j2").render(testset=testset, benchmark=benchmark, series=series, rows=out)


def stage2_note(stage_summaries: Mapping[str, str | Path], llm_name: str) -> str:
    """One sentence on what the Stage-2/3 rows come from: decoder, size, steps, device."""
    s = {stage.removeprefix("stage"): json.loads(Path(p).read_text()) for stage, p in sorted(stage_summaries.items())}
    names, steps = list(s), [f"{v['steps']:,}" for v in s.values()]

    def joined(xs):
        return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]

    params = max(v["parameters"] for v in s.values())
    text = (
        f"Stage {joined(names)} rows: the Stage-1 encoder, a projection and {llm_name or 'an LLM'} as the "
        f"decoder ({params / 1e6:,.1f}M parameters in all), trained for {joined(steps)} steps on "
        f"{next(iter(s.values()))['device']}"
    )
    if params < 1e8:
        return text + (
            " — the Stage-2 code path at demo size, not what a pretrained Gemma brings "
            "(production: Gemma-3 1B, 2.1B parameters in all, 20K + 150K + 20K steps)."
        )
    return text + "."


def build_report(
    summary_csv: str | Path,
    scores: Mapping[str, str | Path],
    rtfx: Mapping[str, str | Path],
    balance_json: str | Path,
    qc_json: str | Path,
    train_summary: str | Path | None,
    metrics_csv: str | Path | None,
    provenance: Mapping,
    out_html: str | Path,
    title: str = "Maya ASR evaluation",
    bins_json: str | Path | None = None,
    stage_summaries: Mapping[str, str | Path] | None = None,
    llm_name: str = "",
    timings_dir: str | Path | None = None,
    benchmarks: Mapping[str, str | None] | None = None,
) -> dict:
    """Write the report; ``scores``/``rtfx`` map "stage/testset/decoder" to their JSON files;
    ``stage_summaries`` maps Stage-2/3 stages to their train_summary.json, ``llm_name`` says what their decoder is."""
    with open(summary_csv) as f:
        rows = list(csv.DictReader(f))
    balance = json.loads(Path(balance_json).read_text())
    qc = json.loads(Path(qc_json).read_text())
    train = json.loads(Path(train_summary).read_text()) if train_summary and Path(train_summary).exists() else None
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">Generated {html.escape(provenance.get("generated", ""))} &middot; run '
        f"<code>{html.escape(str(provenance.get('run_name', '')))}</code> &middot; commit "
        f"<code>{html.escape(str(provenance.get('git_commit', ''))[:12])}</code></p>",
    ]
    if train:
        hours = sum(v["hours_before"] for v in balance["languages"].values())
        parts.append(
            f'<p class="note">These numbers come from a {train["parameters"] / 1e6:,.2f}M-parameter Stage-1 '
            f"model trained for {train['steps']:,} steps on {hours:,.2f} h of speech ({train['train_clips']:,} "
            f"clips, {len(balance['languages'])} languages) on {html.escape(train['device'])}"
            + (
                " &mdash; a demonstration of the workflow, not a production model (that is 1.1B parameters, "
                "~117K h, 200K steps)."
                if train["parameters"] < 1e8
                else "."
            )
            + "</p>"
        )
    if stage_summaries:
        parts.append(f'<p class="note">{html.escape(stage2_note(stage_summaries, llm_name))}</p>')

    parts.append("<h2>Word and character error rates per language</h2>")
    parts.append(
        '<p class="muted">Greedy decoding; references and hypotheses go through the same normalisation '
        "as the tokenizer corpus (NFC, punctuation removed, digits to ASCII, Latin lower-cased). "
        "Error bars and brackets: 95 % bootstrap confidence intervals (utterance resampling, "
        f"{html.escape(str(provenance.get('bootstrap', '')))}). {OVER_LENGTH_NOTE}</p>"
    )
    testsets = sorted({r["testset"] for r in rows})
    for ts in testsets:
        sel = [r for r in rows if r["testset"] == ts]
        parts.append(matrix(ts, sel, (benchmarks or {}).get(ts)))
        parts.append(_bars(sel, "wer", f"WER per language - {ts}"))
        parts.append(_bars(sel, "cer", f"CER per language - {ts}"))
        table, classes = [], []
        for r in sorted(sel, key=lambda r: (r["stage"], r["decoder"], r["language"])):
            table.append(
                [
                    r["stage"],
                    r["decoder"],
                    f"{r['language']} ({LANGUAGE_NAMES.get(r['language'], '?')})",
                    r["utterances"],
                    f"{float(r['hours']):.3f}",
                    f"{_pct(r['wer'])} [{_pct(r['wer_ci_low'])}, {_pct(r['wer_ci_high'])}]",
                    f"{_pct(r['cer'])} [{_pct(r['cer_ci_low'])}, {_pct(r['cer_ci_high'])}]",
                    f"{r['word_substitutions']}/{r['word_deletions']}/{r['word_insertions']}",
                    r["ref_words"],
                    r.get("over_length") if r.get("over_length") not in (None, "") else "-",
                ]
            )
            classes.append("")
        for stage, dec in sorted({(r["stage"], r["decoder"]) for r in sel}):
            grp = [r for r in sel if (r["stage"], r["decoder"]) == (stage, dec)]
            mw = sum(float(r["wer"]) for r in grp) / len(grp)
            mc = sum(float(r["cer"]) for r in grp) / len(grp)
            table.append(
                [
                    stage,
                    dec,
                    f"macro average of {len(grp)} languages",
                    sum(int(r["utterances"]) for r in grp),
                    "",
                    _pct(mw),
                    _pct(mc),
                    "",
                    "",
                    "",
                ]
            )
            classes.append("avg")
        parts.append(
            "<details><summary>Every row of this test set: 95 % CIs, S/D/I, counts, over-length</summary>"
            + _table(
                [
                    "stage",
                    "decoder",
                    "language",
                    "utts",
                    "hours",
                    "WER % [95% CI]",
                    "CER % [95% CI]",
                    "S/D/I (words)",
                    "ref words",
                    "over-length",
                ],
                table,
                left=3,
                classes=classes,
            )
            + "</details>"
        )

    parts.append("<h2>Top word confusions</h2>")
    for key in sorted(scores):
        s = json.loads(Path(scores[key]).read_text())
        items = []
        for lang, v in s["languages"].items():
            conf = ", ".join(f"{c['ref']} -> {c['hyp']} ({c['count']})" for c in v["confusions"][:5])
            items.append([lang, conf or "-"])
        parts.append(
            f"<h3><code>{html.escape(key)}</code></h3>"
            + _table(["language", "reference -> hypothesis (count)"], items, left=2)
        )

    parts.append("<h2>Decoding speed</h2>")
    rt_rows = []
    for key in sorted(rtfx):
        r = json.loads(Path(rtfx[key]).read_text())
        rt_rows.append(
            [
                key,
                r["utterances"],
                f"{r['audio_s']:.1f}",
                f"{r['decode_s']:.2f}",
                r["rtfx"],
                r["rtfx_end_to_end"],
                r["device"],
                r["batch_size"],
                r["threads"],
            ]
        )
    parts.append(
        _table(
            [
                "stage/testset/decoder",
                "utts",
                "audio s",
                "decode s",
                "RTFx (model)",
                "RTFx (with audio reading)",
                "device",
                "batch",
                "CPU threads",
            ],
            rt_rows,
        )
    )

    parts.append("<h2>Training data per language</h2>")
    parts.append(_hours(balance))
    hrs = [
        [
            lang,
            LANGUAGE_NAMES.get(lang, "?"),
            f"{v['hours_before']:.3f}",
            f"{100 * v['share_before']:.1f}",
            f"{v['hours_after']:.3f}",
            f"{100 * v['share_after']:.1f}",
        ]
        for lang, v in sorted(balance["languages"].items())
    ]
    parts.append(_table(["language", "", "hours before", "share %", "hours after", "share %"], hrs, left=2))

    tpf = (json.loads(Path(bins_json).read_text()).get("tokens_per_encoder_frame") if bins_json else None) or {}
    if tpf.get("by_language"):
        parts.append(f"<h3>Tokens per encoder frame (subsampling {tpf['subsampling_factor']}x)</h3>")
        parts.append(
            '<p class="muted">CTC needs at least one encoder frame per token (plus blanks between repeats); '
            "a transducer gets little room either beyond about 0.5. 32K BPE on real speech sits near 0.25.</p>"
        )
        for w in tpf.get("warnings", []):
            parts.append(f'<p class="note">Warning: {html.escape(w)}</p>')
        parts.append(
            _table(
                ["language", "clips", "median", "p95", "max", "over 0.5", "over 1 (left out)"],
                [
                    [lang, v["clips"], v["p50"], v["p95"], v["max"], v["over_warn"], v["unalignable"]]
                    for lang, v in sorted(tpf["by_language"].items())
                ],
                left=1,
            )
        )

    parts.append("<h2>Data QC</h2>")
    t = qc["total"]
    parts.append(
        f"<p>{t['shards']} shards ({t['shards_ok']} ok, {t['shards_degraded']} degraded, "
        f"{t['shards_failed']} failed); {t['clips_in']:,} clips in, {t['clips_kept']:,} kept, "
        f"{t['clips_quarantined']:,} quarantined; {t['hours_kept']:.2f} h kept.</p>"
    )
    from maya.qc import REASON_TEXT

    parts.append(
        _table(
            ["quarantine reason", "what it means", "clips"],
            [
                [k, REASON_TEXT.get(k, "shard-level failure (see below)"), n]
                for k, n in sorted(t["quarantined_by_reason"].items())
            ],
            left=2,
        )
    )
    if t.get("failed_shards"):
        parts.append(
            _table(
                ["failed shard", "reason"],
                [[f"{f['language']}/{f['shard_id']}", f"{f['code']}: {f['detail']}"] for f in t["failed_shards"]],
                left=2,
            )
        )
    if t.get("skipped_shards"):
        parts.append(
            f"<p>{len(t['skipped_shards'])} shard directories were skipped: their names cannot be "
            "shard ids. Rename them to include their clips.</p>"
        )
        parts.append(
            _table(
                ["skipped directory", "reason"], [[s["directory"], s["reason"]] for s in t["skipped_shards"]], left=2
            )
        )
    dup = t.get("duplicates_across_shards") or {}
    if dup.get("clips"):
        parts.append(
            f"<p>{dup['clips']:,} clips duplicate a clip of an earlier shard ({html.escape(str(dup['by_key']))}); "
            "the first copy in catalog order is kept (results/qc/duplicates.parquet).</p>"
        )

    parts.append("<h2>Stage 1 training</h2>")
    if train:
        parts.append(
            f"<p>{train['steps']} steps in {train['wall_s']:.0f} s on {html.escape(train['device'])} "
            f"({train['devices']} device(s), {html.escape(train['precision'])}); {train['train_clips']:,} "
            f"train clips, {train['val_clips']:,} validation clips; {train['parameters']:,} parameters.</p>"
        )
        curve = train.get("curve", [])
        if curve:
            parts.append(
                _table(
                    ["step", "val WER % (TDT)", "val CER % (TDT)", "val WER % (CTC)", "val CER % (CTC)"],
                    [
                        [
                            c["step"],
                            _pct(c.get("val_wer")),
                            _pct(c.get("val_cer")),
                            _pct(c.get("val_wer_ctc")),
                            _pct(c.get("val_cer_ctc")),
                        ]
                        for c in curve
                    ],
                    left=1,
                )
            )
    if metrics_csv and Path(metrics_csv).exists():
        parts.append(_curves(Path(metrics_csv)))

    parts.append("<h2>Published baselines (not ours)</h2>")
    parts.append(
        f'<p class="note">Published numbers from other systems on <b>other test sets</b>, for orientation '
        f"only; they are not comparable with the tables above. Source: "
        f"{html.escape(PUBLISHED_BASELINES['source'])}.</p>"
    )
    parts.append(
        _table(
            ["language", "published WER %"],
            [[f"{lang} ({LANGUAGE_NAMES[lang]})", v] for lang, v in PUBLISHED_BASELINES["wer"].items()],
            left=1,
        )
    )

    if timings_dir is not None:
        parts.append(_timings(timings_dir))

    parts.append("<h2>Provenance</h2>")
    parts.append(_table(["item", "value"], [[k, v] for k, v in provenance.items()], left=2))

    page = _template("report.html.j2").render(title=title, css=Markup(CSS), sections=[Markup(p) for p in parts])
    Path(out_html).write_text(page, encoding="utf-8")
    return {"bytes": len(page), "languages": sorted({r["language"] for r in rows}), "testsets": testsets}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
