"""The README and docs/ say only what is true of the code: targets, commands and links exist, tables are whole."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from pipeline.cli import parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TARGETS = set(re.findall(r"^([a-z0-9-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def _commands() -> set[str]:
    for action in parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _code(path: Path) -> str:
    """Every code span and fenced block of a Markdown file: where commands are written."""
    text = path.read_text()
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL) + re.findall(r"`([^`\n]+)`", text))


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_make_target_and_cli_command_named_exists(path: Path) -> None:
    code = _code(path)
    targets = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", code))
    assert targets <= TARGETS, f"{path.name}: no such make target {sorted(targets - TARGETS)}"
    commands = set(re.findall(r"(?:\bimgpipe|python -m pipeline|\bpipeline) ([a-z][a-z0-9-]*)", code))
    unknown = commands - _commands() - {"api", "worker"} - {"local"}  # `python -m pipeline.local...` is a module
    assert not unknown, f"{path.name}: no such CLI command {sorted(unknown)}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#]+?)(?:#[^)]*)?\)", path.read_text()):
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_table_is_broken_by_a_blank_line(path: Path) -> None:
    # A blank line inside a table ends it: the rows after it render as a paragraph of pipes.
    lines = path.read_text().splitlines()
    for i in range(2, len(lines)):
        if lines[i].startswith("|") and not lines[i - 1].strip() and lines[i - 2].startswith("|"):
            assert lines[i + 1].startswith("| ---") if i + 1 < len(lines) else False, f"{path.name}:{i + 1}"


def test_the_readme_reads_in_five_minutes() -> None:
    # 708 lines and about 10,000 words once; the rest lives in docs/, linked from the README's last table.
    words = len((ROOT / "README.md").read_text().split())
    assert words <= 2000, words
    readme = (ROOT / "README.md").read_text()
    assert all(f"(docs/{p.name})" in readme for p in (ROOT / "docs").glob("*.md")), "a doc the README does not link"
