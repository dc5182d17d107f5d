"""Which image compose and the fixtures run, and what an engine with no images and no registry makes them say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.local import containers
from pipeline.local.containers import IMAGES, PROFILES, ContainersError, compose_env
from tests.fake_docker import calls, fake_docker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake engine that answers and holds nothing; its folder (for calls and images)."""
    env = fake_docker(tmp_path / "bin")
    monkeypatch.setenv("PATH", env["PATH"])
    for image in IMAGES.values():
        if image.var:
            monkeypatch.delenv(image.var, raising=False)
    return tmp_path / "bin"


def test_no_image_and_no_registry_says_what_to_do_in_one_line(engine: Path) -> None:
    with pytest.raises(ContainersError) as err:
        compose_env("moto", os.environ, say=lambda _: None)
    text = str(err.value)
    assert "\n" not in text
    assert "python:3.12.8-slim-bookworm is not here and cannot be pulled" in text
    assert "no such host" in text and "`make images`" in text and "MODE=embedded EMULATOR=moto" in text
    assert any(c.startswith("pull ") for c in calls(engine))


def test_stand_ins_are_used_when_upstream_is_absent(engine: Path) -> None:
    fake_docker(engine, {IMAGES[k].standin: {} for k in IMAGES})
    chosen = compose_env("localstack", os.environ, say=lambda _: None)
    assert chosen == {
        "PYTHON_IMAGE": "imgpipe-standin/python:3.12-slim-bookworm",
        "LOCALSTACK_IMAGE": "imgpipe-standin/localstack:4.14.0",
    }
    assert not any(c.startswith("pull ") for c in calls(engine))


def test_upstream_wins_over_a_stand_in_and_a_variable_over_both(engine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(engine, {IMAGES["ministack"].upstream: {}, IMAGES["ministack"].standin: {}, "mine/python:1": {}})
    monkeypatch.setenv("PYTHON_IMAGE", "mine/python:1")
    assert compose_env("ministack", os.environ, say=lambda _: None) == {
        "PYTHON_IMAGE": "mine/python:1",
        "MINISTACK_IMAGE": IMAGES["ministack"].upstream,
    }


def test_a_variable_naming_an_absent_image_is_refused(engine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_IMAGE", "typo/moto:1")
    fake_docker(engine, {IMAGES["python"].standin: {}})
    with pytest.raises(ContainersError, match=r"MOTO_IMAGE=typo/moto:1 is not an image here"):
        compose_env("moto", os.environ, say=lambda _: None)


def test_every_profile_names_images_with_an_upstream_default_and_a_stand_in_of_our_own() -> None:
    for keys in PROFILES.values():
        for key in keys:
            image = IMAGES[key]
            assert image.var.endswith("_IMAGE") and image.upstream and ":" in image.upstream
            assert image.standin.startswith("imgpipe-standin/") and image.standin != image.upstream
    # compose reads each variable with upstream's name as its default (`make images` never retags upstream names).
    compose = (ROOT / "docker-compose.yml").read_text()
    for key in ("localstack", "ministack", "moto", "python"):
        image = IMAGES[key]
        assert f"${{{image.var}:-{image.upstream}}}" in compose, image.var
    assert f"ARG PYTHON_IMAGE={IMAGES['python'].upstream}" in (ROOT / "Dockerfile").read_text()


def test_inputs_change_when_a_lock_or_a_recipe_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = containers.inputs("moto")
    real = Path.read_bytes

    def patched(self: Path) -> bytes:
        data = real(self)
        return data + b"# changed\n" if self.name == "moto.lock" else data

    monkeypatch.setattr(Path, "read_bytes", patched)
    assert containers.inputs("moto") != before
    assert containers.inputs("localstack") == containers.inputs("localstack")


def test_stand_in_recipes_build_offline() -> None:
    # A `# syntax=` line makes BuildKit fetch its frontend from a registry; FROM must be the BASE argument.
    for folder in ("localstack", "ministack", "moto"):
        text = (ROOT / "containers" / folder / "Dockerfile").read_text()
        assert not text.startswith("# syntax") and "FROM ${BASE}" in text
        assert "--require-hashes" in text
    assert not (ROOT / "Dockerfile").read_text().startswith("# syntax")


def test_the_command_line_says_one_line_without_an_engine(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin"}
    (tmp_path / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (tmp_path / "docker").chmod(0o755)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.local.containers",
            "resolve",
            "--profile",
            "moto",
            "--out",
            str(tmp_path / "e"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "Cannot connect to the Docker daemon" in proc.stderr and "MODE=embedded" in proc.stderr


def test_without_an_engine_and_without_root_the_leg_skips_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    pidfile = tmp_path / "dockerd.pid"
    assert containers.main(["engine-start", "--pidfile", str(pidfile), "--log", str(tmp_path / "log")]) == 3
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "Cannot connect" in out and "not root with apt" in out
    assert not pidfile.exists()
    # Stopping what was never started is nothing, not an error.
    assert containers.main(["engine-stop", "--pidfile", str(pidfile)]) == 0


def test_an_answering_engine_is_used_and_never_stopped(engine: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "dockerd.pid"
    assert containers.main(["engine-start", "--pidfile", str(pidfile), "--log", str(tmp_path / "log")]) == 0
    assert not pidfile.exists()  # engine-stop stops only an engine whose pid it recorded


def test_on_vfs_the_build_cache_goes_with_each_prune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # vfs copies every cached build step in full: a day of runs kept 38 GB of cache, and CI then found the disk full.
    monkeypatch.setenv("PATH", fake_docker(tmp_path / "vfs", driver="vfs")["PATH"])
    containers.prune()
    assert "builder prune --all --force" in calls(tmp_path / "vfs")
    # Elsewhere layers are shared and the build cache is anyone's: it is left alone.
    monkeypatch.setenv("PATH", fake_docker(tmp_path / "overlay", driver="overlay2")["PATH"])
    containers.prune()
    assert not [c for c in calls(tmp_path / "overlay") if c.startswith("builder")]
    assert [c for c in calls(tmp_path / "overlay") if c.startswith("image prune")]


def test_a_short_disk_is_one_line_before_anything_is_built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gb = 10**9
    assert containers.disk_shortfall(15, "/var/lib/docker", lambda _: 20 * gb) == ""
    assert containers.disk_shortfall(15, "", lambda _: 0) == ""  # an engine that does not say where: nothing to check
    why = containers.disk_shortfall(15, "/var/lib/docker", lambda _: int(2.1 * gb))
    assert why.startswith("only 2.1 GB free under /var/lib/docker, and this needs about 15 GB")
    assert "docker builder prune --all" in why and "\n" not in why
    env = fake_docker(tmp_path / "bin", root=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.local.containers", "disk-check", "--need-gb", "1000000"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("disk-check: only ") and f"GB free under {tmp_path}" in proc.stderr
    assert proc.stderr.count("\n") == 1
    ok = subprocess.run(
        [sys.executable, "-m", "pipeline.local.containers", "disk-check", "--need-gb", "0.001"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert ok.returncode == 0 and not ok.stderr


def test_the_leg_checks_the_disk_before_it_builds() -> None:
    leg = (ROOT / "scripts" / "containers_leg.sh").read_text()
    assert leg.index("containers disk-check") < leg.index("containers ensure")


def _layers_per_stage(dockerfile: Path) -> dict[str, int]:
    """Instructions that make a layer (RUN, COPY, ADD, WORKDIR), counted per build stage."""
    stages: dict[str, int] = {}
    stage = ""
    for line in dockerfile.read_text().splitlines():
        word = line.split(" ", 1)[0]
        if word == "FROM":
            stage = line.split()[-1] if " AS " in line else line.split()[1]
            stages[stage] = 0
        elif word in ("RUN", "COPY", "ADD", "WORKDIR"):
            stages[stage] += 1
    return stages


def test_every_image_is_built_in_few_layers() -> None:
    # On vfs each layer is a full copy of the image so far: our 13-layer test image took 8 GB for 1 GB of files.
    files = [ROOT / "Dockerfile", *sorted((ROOT / "containers").glob("*/Dockerfile"))]
    counts = {f"{f.relative_to(ROOT)}:{stage}": n for f in files for stage, n in _layers_per_stage(f).items()}
    assert len(counts) == 5
    assert {name: n for name, n in counts.items() if n > 3} == {}


def test_the_leg_prunes_once_then_says_the_disk_it_leaves(tmp_path: Path) -> None:
    # It once pruned before its last line and again on exit, and read the engine's data root with a `docker info`
    # of its own beside containers.engine_facts(): the script reaches the engine through containers.py alone.
    log = tmp_path / "py.log"
    py = tmp_path / "py"
    py.write_text(
        f'#!/usr/bin/env bash\necho "$*" >> {log}\nif [ "$3" = disk ]; then echo "images: none; engine disk: 7G"; fi\n'
    )
    py.chmod(0o755)
    env = fake_docker(tmp_path / "bin")
    env.update(
        PY=str(py),
        CONTAINERS_PROFILES=" ",  # set, with no profile in it (empty would mean the default)
        CONTAINERS_FIXTURE_BACKENDS=" ",
        CONTAINERS_RUN_DIR=str(tmp_path / "run"),
    )
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "containers_leg.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    commands = [line.split()[2] for line in log.read_text().splitlines()]
    assert commands == ["engine-start", "disk-check", "ensure", "prune", "disk", "engine-stop"]
    assert proc.stdout.strip().splitlines()[-1].endswith("; images: none; engine disk: 7G")
    assert calls(tmp_path / "bin") == []
