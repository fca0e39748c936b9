"""Shared plumbing for the thin entry points in ``workflow_scripts/`` and the ``maya`` CLI."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from maya.errors import MayaError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").strip(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def peak_rss_mb() -> float:
    """This process' peak resident memory (VmHWM; ``ru_maxrss`` would inherit the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children (threads included): a
    step's cost that a busy host does not inflate the way it inflates wall time."""
    import resource

    return sum(
        r.ru_utime + r.ru_stime
        for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def run(
    main: Callable[[argparse.Namespace], int | None], p: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> int:
    """Parse args, set up logging, call ``main``; a :class:`MayaError` becomes one clear line.
    Every step's log ends with its wall time, CPU time and peak memory (``make bench-scale`` reads them)."""
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    start, cpu0 = time.perf_counter(), cpu_seconds()
    try:
        rc = int(main(args) or 0)
    except MayaError as e:
        print(f"error: {e}", file=sys.stderr)  # one line, nothing after it
        return 1
    logging.getLogger("maya").info(
        "%s: %.1f s, %.1f CPU s, peak RSS %.0f MB",
        Path(sys.argv[0]).stem,
        time.perf_counter() - start,
        cpu_seconds() - cpu0,
        peak_rss_mb(),
    )
    return rc
