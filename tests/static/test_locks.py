"""Hash-locked dependencies: every virtualenv and the Lambda zip install from a requirements/*.lock with hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict[str, str]:
    return {_norm(m.group(1)): m.group(2) for m in PIN.finditer(text)}


LOCKS = {
    "dev.lock": ["dev.txt", "runtime.txt"],
    "runtime.lock": ["runtime.txt"],
    "ministack.lock": ["ministack.txt"],
    "moto.lock": ["moto.txt"],
    "checkov.lock": ["checkov.txt"],
    "localstack.lock": ["localstack.txt"],
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_pins_every_package_with_hashes_and_agrees_with_its_pins(lock: str) -> None:
    text = (REQ / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert entries
    for entry in entries:
        assert "==" in entry.splitlines()[0] and "--hash=sha256:" in entry, f"{lock}: {entry.splitlines()[0]}"
    locked = _pins(text)
    for source in LOCKS[lock]:
        for name, version in _pins((REQ / source).read_text()).items():
            assert locked.get(name) == version, (
                f"{lock} has {name}=={locked.get(name)}, {source} pins {version}: make lock"
            )


def test_every_install_in_the_makefile_is_hash_locked() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line or "PIP_LOCKED" in line]
    for line in installs:
        if "PIP_LOCKED :=" in line:
            assert "--require-hashes" in line
            continue
        # only our own code is installed without hashes: the project itself and the LocalStack plugin
        assert "PIP_LOCKED)" in line or re.search(r"--no-deps (-e \.|\./localstack/host-executor)$", line), line
    assert "-r requirements/" not in makefile.replace("PIP_LOCKED) requirements/", ""), "a .txt installed directly"


def test_the_zip_is_built_from_the_runtime_lock() -> None:
    build = (ROOT / "scripts" / "build_zip.py").read_text()
    assert '"requirements" / "runtime.lock"' in build and '"--require-hashes"' in build
