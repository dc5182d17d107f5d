"""The Makefile's own promises: a wrong name is one line that lists the right ones, and its lists match the code's."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from pipeline.local.emulator import BACKENDS

ROOT = Path(__file__).resolve().parents[2]


def test_the_makefile_knows_the_same_emulators_as_the_code() -> None:
    match = re.search(r"^BACKENDS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match is not None and tuple(match.group(1).split()) == BACKENDS


def test_a_misspelt_emulator_is_one_line_naming_the_valid_ones() -> None:
    # GIVEN a typo (the old Makefile went on and ended in a make error that named nothing)
    # (run as a person would: not as a sub-make of `make test`, whose MAKEFLAGS print "Entering directory")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "up", "EMULATOR=minstack"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    # THEN make stops before doing anything, in one line that names every valid emulator
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "EMULATOR=minstack" in lines[0]
    assert all(name in lines[0] for name in BACKENDS)
