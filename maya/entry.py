"""Shared plumbing for the thin entry points in ``workflow_scripts/`` and the ``maya`` CLI."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from maya.errors import MayaError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(doc or "").strip(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def run(main: Callable[[argparse.Namespace], int | None], p: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> int:
    """Parse args, set up logging, call ``main``; a :class:`MayaError` becomes one clear line."""
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(main(args) or 0)
    except MayaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
