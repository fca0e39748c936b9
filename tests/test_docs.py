"""The documentation works as written: every relative link resolves, and every `snakemake ...` command
shown in the README and docs/ plans without error (as a dry run, in a fresh copy of the repository
where the production corpus is absent)."""

import os
import re
import shlex

import pytest

from tests.helpers import REPO, copy_repo, snakemake

DOCS = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def documented_commands() -> list[tuple[str, str]]:
    """(doc, command line) for every line of a fenced code block that runs `snakemake`."""
    found = []
    for doc in DOCS:
        in_code = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                in_code = not in_code
                continue
            words = line.split("#", 1)[0].split("|", 1)[0].strip()
            if in_code and "snakemake" in words.split()[:3] and "..." not in words:
                found.append((doc.relative_to(REPO).as_posix(), words))
    first = {}
    for doc, command in found:  # one dry run per distinct command
        first.setdefault(command, doc)
    return sorted((doc, command) for command, doc in first.items())


def test_the_docs_show_the_commands_users_type():
    commands = {c for _, c in documented_commands()}
    assert "snakemake --profile h200 results/stage1/final.nemo" in commands
    assert any("config/smoke.yaml" in c for c in commands)
    assert len(commands) >= 10


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if re.match(r"^[a-z]+:", target) or not path:
                continue
            if not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert not broken, broken


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("docs") / "repo")


@pytest.mark.workflow
@pytest.mark.parametrize(("doc", "command"), documented_commands())
def test_documented_command_plans(fresh_clone, doc, command):
    words = shlex.split(command)
    env = dict(os.environ)
    while words and ENV_ASSIGNMENT.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[0] == "snakemake", command
    # -n right after the program: `--configfile` takes every word after it.
    args = words[1:] if "--unlock" in words else ["-n", *words[1:]]
    proc = snakemake(fresh_clone, *args, check=False, env=env)
    assert proc.returncode == 0, f"{doc}: `{command}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
