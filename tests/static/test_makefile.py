"""The Makefile's own promises: a wrong name is one line that lists the right ones, and its lists match the code's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from pipeline.local.emulator import BACKEND_TABLE, BACKENDS

ROOT = Path(__file__).resolve().parents[2]


def _make_says(expression: str) -> str:
    """What the Makefile's variables expand to, as make itself reads them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", "-", "say"],
        input=f"say:\n\t@echo '{expression}'\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip()


def test_the_makefile_reads_the_emulators_from_the_code() -> None:
    # The Makefile reads the table's lines with sed (no Python before the virtualenvs exist): the same entries.
    assert _make_says("$(BACKEND_TABLE)").split() == [f"{b.name}:{b.python}" for b in BACKEND_TABLE]
    assert tuple(_make_says("$(BACKENDS)").split()) == BACKENDS


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


def _dry(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout


def test_what_make_up_was_given_is_remembered_until_make_down(tmp_path: Path) -> None:
    # After `make up PORT=4650`, a plain `make e2e` once asked 4566 and `make down` stopped nothing.
    up = _dry("up", f"RUN_DIR={tmp_path}", "PORT=4650", "API_PORT=8181", "MODE=embedded")
    assert "PORT ?= 4650\\nAPI_PORT ?= 8181\\nMODE ?= embedded" in up and f"{tmp_path}/up.mk" in up
    (tmp_path / "up.mk").write_text("PORT ?= 4650\nAPI_PORT ?= 8181\nMODE ?= embedded\n")
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4650 " in _dry("e2e", f"RUN_DIR={tmp_path}")
    # the command line still wins, and the remembered mode holds even where an engine now answers
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4700 " in _dry("e2e", f"RUN_DIR={tmp_path}", "PORT=4700")
    down = _dry("down", f"RUN_DIR={tmp_path}", "DOCKER_OK=yes")
    assert f"pipeline stop {tmp_path}/api.pid" in down and "compose" not in down and f"{tmp_path}/up.mk" in down


def test_every_list_of_emulators_is_the_table() -> None:
    # The emulators are one table (pipeline/local/emulator.py BACKEND_TABLE); what cannot read it is held to it.
    lock = _dry("lock")
    for b in BACKEND_TABLE:
        # its virtualenv is made with a Python of its version, its lock installed, then whatever it provisions
        made = _dry(f".venv-{b.name}/.installed", "-W", f"requirements/{b.name}.lock").splitlines()
        [venv] = [line for line in made if line.endswith(f" -m venv .venv-{b.name}")]
        python = venv.split()[0]
        ran = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert ran.stdout.decode().strip() == b.python, (b.name, python)
        assert f"--backend {b.name} --bin-dir .venv-{b.name}/bin" in made[-2], made
        # and its lock resolved for that Python
        assert f"--python-version {b.python} requirements/{b.name}.txt -o requirements/{b.name}.lock" in lock
        assert (ROOT / "requirements" / f"{b.name}.lock").exists()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    profiles = {p for service in compose["services"].values() for p in service.get("profiles", [])} - {"tests"}
    assert profiles == set(BACKENDS) and set(compose["services"]["worker"]["profiles"]) == set(BACKENDS)
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    matrices = [job.get("strategy", {}).get("matrix", {}).get("emulator", []) for job in workflow["jobs"].values()]
    assert all(set(m) <= set(BACKENDS) for m in matrices) and any(matrices)
