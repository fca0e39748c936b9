"""Per-rule code fingerprints.

Snakemake reruns a job when its rule's ``shell:`` text or params change, but it cannot see the
library code a workflow script imports. Each rule therefore carries ``params: code=...``: a hash
of its entry-point script and every ``maya`` module that script imports, transitively (found by
reading ``import`` statements, not by importing). Editing ``maya/corpus/demo.py`` then reruns the
synthesis jobs and nothing that does not import it.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "maya"


@cache
def _module_file(repo: Path, module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = repo.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return (base / "__init__.py").resolve()
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py").resolve()
    return None


def _package_of(repo: Path, path: Path) -> str:
    rel = path.relative_to(repo).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1])
    return ".".join(parts[:-1])


@cache  # ~25 rules share most modules: parse each file once per process
def _imports(repo: Path, path: Path) -> frozenset[str]:
    """Names of ``maya`` modules imported by the file at ``path`` (absolute and relative)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    try:
        pkg = _package_of(repo, path)
    except ValueError:  # an entry-point script outside the package
        pkg = ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)] if pkg else []
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            # `from maya.corpus import demo` imports a submodule, not only a name.
            found.update(f"{mod}.{a.name}" for a in node.names)
    return frozenset(m for m in found if m == PACKAGE or m.startswith(PACKAGE + "."))


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def code_files(repo: str | Path, *entry_points: str | Path) -> list[Path]:
    """Entry-point files plus every ``maya`` module they reach, sorted, repo-relative."""
    repo = Path(repo).resolve()
    todo = [Path(repo, e).resolve() for e in entry_points]
    for p in todo:
        if not p.is_file():
            raise FileNotFoundError(f"code fingerprint: no such entry point {p}")
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for mod in _imports(repo, path):
            for name in _with_parents(mod):
                f = _module_file(repo, name)
                if f is not None and f not in seen:
                    todo.append(f)
    return sorted(p.relative_to(repo) for p in seen)


@cache
def code_fingerprint(repo: str | Path, *entry_points: str) -> str:
    """Short sha256 over the contents (and names) of :func:`code_files`."""
    h = hashlib.sha256()
    for rel in code_files(repo, *entry_points):
        h.update(str(rel).encode() + b"\0")
        h.update(Path(repo, rel).read_bytes() + b"\0")
    return h.hexdigest()[:16]
