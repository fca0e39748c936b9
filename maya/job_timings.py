"""Where the time went: Snakemake's per-job ``benchmark:`` files, summed per rule.

Every rule writes ``results/benchmarks/{rule}[/{wildcards}].tsv`` (Snakemake's own format: one header
row, then ``s``, ``h:m:s``, ``max_rss``, ``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out``,
``mean_load``, ``cpu_time``; memory in MB). The rule is the first path component under the folder.
A user sizing ``mem_mb`` / ``runtime`` for SLURM reads the per-rule maximum here.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class RuleTimes:
    rule: str
    jobs: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0


def _number(row: dict, key: str) -> float:
    try:
        return float(row.get(key) or 0.0)
    except ValueError:  # Snakemake writes "-" where psutil could not measure
        return 0.0


def rule_times(bench_dir: str | Path) -> list[RuleTimes]:
    """Per rule: jobs, total and max wall seconds, CPU seconds, max RSS; slowest rule first.
    A file that cannot be read is skipped with a warning (a timing table never fails a report)."""
    root = Path(bench_dir)
    by_rule: dict[str, RuleTimes] = {}
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rule = path.relative_to(root).parts[0].removesuffix(".tsv")
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            log.warning("%s: unreadable benchmark file (%s), left out of the timing table", path, e)
            continue
        t = by_rule.setdefault(rule, RuleTimes(rule))
        for row in rows:
            s = _number(row, "s")
            t.jobs += 1
            t.total_s += s
            t.max_s = max(t.max_s, s)
            t.cpu_s += _number(row, "cpu_time")
            t.max_rss_mb = max(t.max_rss_mb, _number(row, "max_rss"))
    return sorted(by_rule.values(), key=lambda t: -t.total_s)
