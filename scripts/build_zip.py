"""Build the Lambda deployment zip: the package (without its local-only parts) plus wheels of its dependencies.

Wheels are fetched for the Lambda's platform and Python (never built here), and the zip is written with fixed
timestamps and sorted entries, so the same inputs always give the same bytes and the same source_code_hash.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels and older fit.
PLATFORMS = {
    "x86_64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64"],
    "arm64": ["manylinux_2_28_aarch64", "manylinux2014_aarch64"],
}
# What the Lambda never imports: the local runner, emulator control and CLI live only on developer machines.
EXCLUDE_PARTS = {"__pycache__", "local", "ops"}
EXCLUDE_FILES = {"cli.py", "__main__.py", "e2e.py"}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def install_deps(target: Path, arch: str, python_version: str, requirements: Path) -> None:
    """Install manylinux wheels of the runtime requirements into target."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            *[arg for plat in PLATFORMS[arch] for arg in ("--platform", plat)],
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            # From the hash-locked runtime.lock: the same commit gives the same bytes.
            "--require-hashes",
            "--no-deps",
            "--target",
            str(target),
            "-r",
            str(requirements),
        ],
        check=True,
    )


def package_files() -> list[tuple[Path, str]]:
    """The package's own files, as (path, name in the zip)."""
    out = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if EXCLUDE_PARTS & set(rel.parts) or (path.name in EXCLUDE_FILES and rel.parent.name == "pipeline"):
            continue
        out.append((path, rel.as_posix()))
    return out


def write_zip(out: Path, deps: Path | None) -> int:
    """Write the zip deterministically; returns the number of entries."""
    entries = package_files()
    if deps is not None:
        for path in sorted(deps.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc"):
                entries.append((path, path.relative_to(deps).as_posix()))
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path, name in sorted(entries, key=lambda e: e[1]):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return len(entries)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    p.add_argument("--python-version", default="3.12")
    p.add_argument("--out", default=str(ROOT / "dist" / "lambda.zip"))
    p.add_argument("--requirements", default=str(ROOT / "requirements" / "runtime.lock"))
    p.add_argument("--no-deps", action="store_true", help="the package only (for tests that never invoke it)")
    args = p.parse_args()
    out = Path(args.out)
    deps = None
    if not args.no_deps:
        deps = out.parent / f"build-{args.arch}-py{args.python_version}"
        shutil.rmtree(deps, ignore_errors=True)
        install_deps(deps, args.arch, args.python_version, Path(args.requirements))
    n = write_zip(out, deps)
    if deps is not None:
        shutil.rmtree(deps, ignore_errors=True)
    print(f"{out}: {n} files, {out.stat().st_size / 1e6:.1f} MB ({args.arch}, Python {args.python_version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
