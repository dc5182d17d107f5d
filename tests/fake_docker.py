"""A stand-in `docker` CLI for tests without an engine: an engine that answers, holds given images, cannot pull."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

PULL_ERROR = (
    'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io '
    "on 127.0.0.53:53: no such host"
)


def fake_docker(
    folder: Path, images: dict[str, dict[str, str]] | None = None, *, driver: str = "vfs", root: str = ""
) -> dict[str, str]:
    """Write a `docker` into folder; returns an environment with it first on PATH. Every call is logged to
    folder/calls.log; `image inspect` knows `images` (name: labels); `info` names the storage driver and data root;
    `pull` fails as an offline engine does."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images.json").write_text(json.dumps(images or {}))
    script = folder / "docker"
    script.write_text(
        f"""#!/usr/bin/env python3
import json, sys
args = sys.argv[1:]
with open({str(folder / "calls.log")!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
images = json.load(open({str(folder / "images.json")!r}))
if args[:1] == ["info"] and "{{{{.Driver}}}} {{{{.DockerRootDir}}}}" in args:
    print({f"{driver} {root}"!r})
elif args[:1] in (["info"], ["version"]):
    print("20.10.24")
elif args[:2] == ["image", "inspect"]:
    name = args[-1]
    if name not in images:
        print("Error: No such image: " + name, file=sys.stderr)
        sys.exit(1)
    print(json.dumps(images[name]))
elif args[:1] == ["pull"]:
    print({PULL_ERROR!r}, file=sys.stderr)
    sys.exit(1)
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def calls(folder: Path) -> list[str]:
    """The docker command lines the fake saw, in order."""
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []
