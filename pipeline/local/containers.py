"""Container mode without a registry: which image each name resolves to, stand-ins built offline, the engine.

Compose and the testcontainers fixtures name upstream images (`localstack/localstack:4.14.0`, ...) through
variables (`LOCALSTACK_IMAGE`, ...); a user with a registry gets those. Where no registry answers, `make images`
builds a stand-in for each from Debian's archive (debootstrap), the project's hash locks and its own provisioning,
tagged `imgpipe-standin/...` (never an upstream name), and each name resolves to its stand-in. An image is rebuilt
only when the inputs it was built from (recorded in a label) change.

`python -m pipeline.local.containers --help` lists the commands the Makefile runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.local.emulator import BACKENDS

PROJECT = Path(__file__).resolve().parents[2]
RECIPES = PROJECT / "containers"
LABEL = "org.imgpipe.inputs"
# Bumped when how a stand-in is made changes in a way its files do not show.
RECIPE_VERSION = "1"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the copied CPython's extension modules link against (ssl, ctypes, sqlite3, bz2, lzma, readline, uuid).
PYTHON_LIBS = "ca-certificates,curl,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libuuid1"


class ContainersError(RuntimeError):
    """Container mode cannot go on; the message is one line that says what to do."""


@dataclass(frozen=True)
class Image:
    """One image compose or the fixtures name: the variable that overrides it, upstream's name, our stand-in's."""

    var: str
    upstream: str
    standin: str
    # How the stand-in is made: "rootfs:<suite>" (debootstrap, imported), "python" (the bookworm rootfs with the
    # machine's CPython 3.12), or a folder under containers/ holding a Dockerfile.
    recipe: str
    base: str = ""  # the key in IMAGES of the image the Dockerfile builds FROM
    files: tuple[str, ...] = ()  # project files copied into the build context (paths from the project root)


IMAGES: dict[str, Image] = {
    "debian-bookworm": Image("", "", "imgpipe-standin/debian:bookworm", "rootfs:bookworm"),
    "debian-trixie": Image("", "", "imgpipe-standin/debian:trixie", "rootfs:trixie"),
    "python": Image(
        "PYTHON_IMAGE", "python:3.12.8-slim-bookworm", "imgpipe-standin/python:3.12-slim-bookworm", "python"
    ),
    "localstack": Image(
        "LOCALSTACK_IMAGE",
        "localstack/localstack:4.14.0",
        "imgpipe-standin/localstack:4.14.0",
        "localstack",
        base="debian-trixie",
        files=("requirements/localstack.lock",),
    ),
    "ministack": Image(
        "MINISTACK_IMAGE",
        "ministackorg/ministack:1.5.33",
        "imgpipe-standin/ministack:1.5.33",
        "ministack",
        base="python",
        files=("requirements/ministack.lock",),
    ),
    "moto": Image(
        "MOTO_IMAGE",
        "motoserver/moto:5.2.5",
        "imgpipe-standin/moto:5.2.5",
        "moto",
        base="debian-bookworm",
        files=("requirements/moto.lock",),
    ),
}
# The images each compose profile needs: its emulator, and the Python base our own image (Dockerfile) builds on.
# One compose profile per emulator: the app's image and the emulator's.
PROFILES: dict[str, tuple[str, ...]] = {name: ("python", name) for name in BACKENDS}
COMPOSE_PROJECT = "imgpipe"


def docker(*args: str, timeout: float = 60, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the docker CLI, output captured; the caller checks the exit code."""
    return subprocess.run(["docker", *args], capture_output=True, timeout=timeout, input=stdin, check=False)


def engine_reason() -> str:
    """'' when a Docker engine answers, else one line saying why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        proc = docker("version", "--format", "{{.Server.Version}}", timeout=10)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 10 s"
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"no Docker engine answers ({lines[-1] if lines else 'docker version failed'})"
    return ""


def label_of(name: str) -> str | None:
    """The inputs label of a local image; '' when it has none, None when there is no such image here."""
    proc = docker("image", "inspect", "--format", "{{json .Config.Labels}}", name)
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout or b"null") or {}
    return str(labels.get(LABEL, ""))


def present(name: str) -> bool:
    """Whether the engine has an image by that name."""
    return label_of(name) is not None


def resolve(key: str, env: Mapping[str, str]) -> str | None:
    """The image to run for IMAGES[key]: the variable when set, else upstream's if here, else our stand-in if here."""
    image = IMAGES[key]
    if env.get(image.var):
        return env[image.var]
    for name in (image.upstream, image.standin):
        if present(name):
            return name
    return None


def pull(name: str, timeout: float = 300) -> str:
    """Pull an image; '' when it worked, else the engine's last line."""
    try:
        proc = docker("pull", "--quiet", name, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no answer from the registry within {timeout:.0f} s"
    if proc.returncode == 0:
        return ""
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"docker pull exited {proc.returncode}"


def runnable(key: str, env: Mapping[str, str], otherwise: str, say: Callable[[str], None] = print) -> str:
    """The image to run for IMAGES[key]: resolved (variable, upstream's, stand-in), else pulled; ContainersError in
    one line (what to do: `make images`, or `otherwise`) when there is none."""
    image = IMAGES[key]
    name = resolve(key, env)
    if name is None:
        say(f"pulling {image.upstream} (no local copy, no stand-in from `make images`)")
        why = pull(image.upstream)
        if why:
            raise ContainersError(
                f"image {image.upstream} is not here and cannot be pulled ({why}): run `make images` to build "
                f"stand-ins from Debian packages, or {otherwise}"
            )
        return image.upstream
    if env.get(image.var) and not present(name):
        raise ContainersError(
            f"{image.var}={name} is not an image here: build or pull it, or unset {image.var} "
            "(`make images` builds the stand-ins)"
        )
    return name


def compose_env(profile: str, env: Mapping[str, str], say: Callable[[str], None] = print) -> dict[str, str]:
    """Image variables for `docker compose` with this profile (`runnable` for each image it needs)."""
    otherwise = f"run without Docker: make up MODE=embedded EMULATOR={profile}"
    return {IMAGES[key].var: runnable(key, env, otherwise, say) for key in PROFILES[profile]}


# --- stand-ins -------------------------------------------------------------------------------------------------


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _python312() -> Path:
    """The machine's CPython 3.12 (what the Makefile's PYTHON312 names), the interpreter the Python stand-in runs."""
    given = os.environ.get("PYTHON312")
    candidates = [given] if given else []
    candidates += [shutil.which("python3.12") or ""]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for c in candidates:
        # A pyenv shim is on PATH whether or not it runs: only one that answers counts.
        ok = c and subprocess.run([c, "-c", "pass"], capture_output=True, timeout=30, check=False).returncode == 0
        if ok:
            return Path(c)
    raise ContainersError("the Python stand-in needs a CPython 3.12 (pyenv install 3.12, or set PYTHON312=...)")


def _python_facts(python: Path) -> dict[str, str]:
    code = (
        "import sys, sysconfig as c; print(sys.base_prefix); print(sys.version); print(c.get_config_var('LDLIBRARY'))"
    )
    prefix, version, ldlibrary = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    return {"prefix": prefix, "version": version, "ldlibrary": ldlibrary}


def inputs(key: str) -> str:
    """A digest of everything the image for IMAGES[key] is made from (its base's digest included)."""
    image = IMAGES[key]
    parts = [RECIPE_VERSION.encode(), image.recipe.encode()]
    if image.recipe.startswith("rootfs:") or image.recipe == "python":
        parts.append(PYTHON_LIBS.encode())
        parts += [ca.read_bytes() for ca in _local_cas()]
    if image.recipe == "python":
        parts.append(_python_facts(_python312())["version"].encode())
        parts.append(inputs("debian-bookworm").encode())
    if image.base:
        parts.append(inputs(image.base).encode())
        parts += [p.read_bytes() for p in sorted((RECIPES / image.recipe).iterdir()) if p.is_file()]
        parts += [(PROJECT / f).read_bytes() for f in image.files]
    if key == "localstack":
        from pipeline.local import localstack

        parts.append(localstack.DYNAMODB_LOCAL_NPM.encode())
    return _digest(parts)


def _run(cmd: list[str], timeout: float, **kw: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()[-15:]
        raise ContainersError(f"{' '.join(cmd[:3])} ... failed (exit {proc.returncode}): " + " | ".join(tail))


LOCAL_CAS = Path("/usr/local/share/ca-certificates")
# pip and requests use their own CA bundle unless told: point them at the system's, which has the local CAs.
CA_ENV = [f"ENV {v}=/etc/ssl/certs/ca-certificates.crt" for v in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")]


def _local_cas() -> list[Path]:
    return sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []


def _debootstrap(suite: str, root: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise ContainersError("stand-ins are built with debootstrap: apt-get install debootstrap (as root)")
    include = PYTHON_LIBS if suite == "bookworm" else "ca-certificates,curl"
    _run(["debootstrap", "--variant=minbase", f"--include={include}", suite, str(root), MIRROR], timeout=900)
    # The stand-ins are built for this machine's network: they trust the local CAs it trusts (a TLS-inspecting
    # proxy's, say), so pip inside them reaches PyPI as the host's does.
    for ca in _local_cas():
        shutil.copy2(ca, root / "usr" / "local" / "share" / "ca-certificates" / ca.name)
    _run(["chroot", str(root), "update-ca-certificates"], timeout=120)
    # Like Debian's official images: no apt caches in the layer.
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)
    (root / "var" / "lib" / "apt" / "lists" / "partial").mkdir(parents=True, exist_ok=True)


def _add_python(root: Path, python: Path) -> None:
    """Copy the machine's CPython 3.12 into root's /usr/local, as python:3.12-slim lays it out, and give it pip."""
    facts = _python_facts(python)
    prefix = Path(facts["prefix"])
    local = root / "usr" / "local"
    (local / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(prefix / "bin" / "python3.12", local / "bin" / "python3.12")
    if facts["ldlibrary"].endswith(".so"):
        for lib in (prefix / "lib").glob("libpython3.12.so*"):
            shutil.copy2(lib, local / "lib" / lib.name, follow_symlinks=False)
    skip = shutil.ignore_patterns("site-packages", "test", "tests", "__pycache__", "idlelib", "tkinter", "turtledemo")
    shutil.copytree(prefix / "lib" / "python3.12", local / "lib" / "python3.12", ignore=skip, symlinks=True)
    (local / "lib" / "python3.12" / "site-packages").mkdir()
    for alias in ("python3", "python"):
        (local / "bin" / alias).symlink_to("python3.12")
    _run(["chroot", str(root), "/sbin/ldconfig"], timeout=60)
    _run(["chroot", str(root), "/usr/local/bin/python3", "-m", "ensurepip", "--default-pip"], timeout=300)
    _run(
        ["chroot", str(root), "/usr/local/bin/python3", "-c", "import ssl, ctypes, sqlite3, bz2, lzma, zlib"],
        timeout=60,
    )


def _import(root: Path, tag: str, digest: str, changes: list[str]) -> None:
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    flags = [arg for change in [*changes, f"LABEL {LABEL}={digest}"] for arg in ("--change", change)]
    args = ["import", *flags, "-", tag]
    imp = subprocess.run(["docker", *args], stdin=tar.stdout, capture_output=True, timeout=600, check=False)
    tar.wait(timeout=60)
    if imp.returncode != 0:
        raise ContainersError(f"docker import {tag} failed: {imp.stderr.decode(errors='replace').strip()}")


def _build_dockerfile(key: str, digest: str) -> None:
    image = IMAGES[key]
    with tempfile.TemporaryDirectory(prefix=f"imgpipe-{key}-") as tmp:
        ctx = Path(tmp)
        for p in (RECIPES / image.recipe).iterdir():
            shutil.copy2(p, ctx / p.name)
        for f in image.files:
            shutil.copy2(PROJECT / f, ctx / Path(f).name)
        if key == "localstack":
            from pipeline.local import localstack

            lib = localstack.provision(ctx / "lib")
            shutil.copytree(lib / localstack.DDB_DIR, ctx / "dynamodb-local")
            shutil.rmtree(ctx / "lib")
        cmd = ["build", "--network", "host", "--label", f"{LABEL}={digest}", "-t", image.standin]
        cmd += ["--build-arg", f"BASE={IMAGES[image.base].standin}", str(ctx)]
        proc = docker(*cmd, timeout=1800)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()[-15:]
            raise ContainersError(f"building {image.standin} failed: " + " | ".join(tail))


def build(keys: Iterable[str], say: Callable[[str], None] = print) -> list[str]:
    """Build the stand-ins for keys (and their bases) whose inputs changed; returns the tags built."""
    order: list[str] = []

    def visit(key: str) -> None:
        image = IMAGES[key]
        for dep in ([image.base] if image.base else []) + (["debian-bookworm"] if image.recipe == "python" else []):
            visit(dep)
        if key not in order:
            order.append(key)

    for key in keys:
        visit(key)
    built: list[str] = []
    with tempfile.TemporaryDirectory(prefix="imgpipe-rootfs-", dir="/var/tmp") as tmp:
        roots: dict[str, Path] = {}
        for key in order:
            image = IMAGES[key]
            digest = inputs(key)
            if label_of(image.standin) == digest:
                say(f"{image.standin}: up to date")
                continue
            started = time.monotonic()
            say(f"{image.standin}: building ...")
            if image.recipe.startswith("rootfs:") or image.recipe == "python":
                suite = "bookworm" if image.recipe == "python" else image.recipe.split(":", 1)[1]
                root = roots.get(suite)
                if root is None:
                    root = Path(tmp) / suite
                    _debootstrap(suite, root)
                    roots[suite] = root
                changes = ["ENV LANG=C.UTF-8", *CA_ENV, 'CMD ["bash"]']
                if image.recipe == "python":
                    root = _python_root(root, Path(tmp) / "python")
                    changes[-1] = 'CMD ["python3"]'
                _import(root, image.standin, digest, changes)
            else:
                _build_dockerfile(key, digest)
            built.append(image.standin)
            say(f"{image.standin}: built in {time.monotonic() - started:.0f} s")
    return built


def ensure(keys: Iterable[str], say: Callable[[str], None] = print) -> None:
    """Make each image runnable: upstream's if here or pullable, else the stand-in (built or brought up to date)."""
    for key in keys:
        image = IMAGES[key]
        if present(image.upstream):
            say(f"{image.upstream}: here")
        elif present(image.standin):
            build([key], say)
        elif not pull(image.upstream):
            say(f"{image.upstream}: pulled")
        else:
            say(f"{image.upstream}: cannot be pulled; building its stand-in")
            build([key], say)


def _python_root(debian: Path, dest: Path) -> Path:
    """A copy of the bookworm rootfs with CPython 3.12 added (the plain rootfs stays as it is)."""
    _run(["cp", "-a", str(debian), str(dest)], timeout=300)
    _add_python(dest, _python312())
    return dest


def engine_facts() -> tuple[str, str]:
    """The engine's storage driver and data root ('' for each it does not say)."""
    proc = docker("info", "--format", "{{.Driver}} {{.DockerRootDir}}")
    driver, _, root = proc.stdout.decode().strip().partition(" ")
    return driver, root


def prune() -> None:
    """Remove dangling images of ours (old stand-ins, compose builds replaced since), and on vfs the build cache."""
    for label in (LABEL, f"com.docker.compose.project={COMPOSE_PROJECT}"):
        docker("image", "prune", "--force", "--filter", f"label={label}", timeout=300)
    # On vfs every cached build step is a full copy of its image: a day of runs kept 38 GB of cache here and the next
    # run found the disk full. Other drivers share layers, and there the cache (anyone's) is left alone.
    if engine_facts()[0] == "vfs":
        docker("builder", "prune", "--all", "--force", timeout=300)


# What the containers leg takes at its peak on vfs (measured: 16.7 GB over the stand-ins it finds built: our two
# images, their build cache and each running container's full copy of its image; the stand-ins, built from nothing,
# add about 6 GB): checked before it starts so a full disk is one line, not a wall of engine errors.
LEG_NEEDS_GB = 20.0


def disk_shortfall(need_gb: float, root: str, free_bytes: Callable[[str], int]) -> str:
    """'' when the engine's data root has need_gb free; else one line saying what is free and what to do."""
    if not root:
        return ""
    free_gb = free_bytes(root) / 1e9
    if free_gb >= need_gb:
        return ""
    return (
        f"only {free_gb:.1f} GB free under {root}, and this needs about {need_gb:.0f} GB (vfs stores every layer in "
        "full): free some (`docker builder prune --all`, `docker image prune`, old files under /tmp) and run again"
    )


def _free_bytes(path: str) -> int:
    # A data root that is not on this machine (DOCKER_HOST elsewhere) cannot be measured from here: count it as free.
    return shutil.disk_usage(path).free if Path(path).is_dir() else 1 << 50


def disk_use() -> str:
    """One line: how much disk the stand-ins take (vfs stores every layer in full)."""
    proc = docker(
        "image", "ls", "--filter", "reference=imgpipe-standin/*", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"
    )
    rows = proc.stdout.decode().split("\n")
    return ", ".join(r for r in rows if r) or "no stand-ins"


# --- the engine ---------------------------------------------------------------------------------------------------

DOCKERD_FLAGS = ("--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=vfs")
PLUGINS = Path("/usr/local/lib/docker/cli-plugins")
# The CLI plugins, from Debian trixie's packages (bookworm has compose v1 only, without `up --wait`, and no buildx):
# compose v2 runs the stack; buildx makes `docker build` use BuildKit, which makes no copy of the image for each
# metadata step (the legacy builder does, and on vfs every copy is the whole image).
PLUGIN_PACKAGES = {"docker-compose": "compose", "docker-buildx": "buildx"}


def _apt(*args: str, timeout: float = 900) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "-qq", *args], timeout=timeout, env=env)


def _plugin_missing(command: str) -> bool:
    return subprocess.run(["docker", command, "version"], capture_output=True, check=False, timeout=30).returncode != 0


def provision_engine(say: Callable[[str], None] = print) -> None:
    """Install what an engine here needs (root with apt only): Debian's docker.io and debootstrap, and the compose v2
    and buildx CLI plugins from trixie's packages, fetched with a sources list of their own (the system's untouched)."""
    if shutil.which("dockerd") is None or shutil.which("debootstrap") is None:
        say("installing docker.io and debootstrap from Debian ...")
        _apt("update")
        _apt("install", "-y", "--no-install-recommends", "docker.io", "debootstrap")
    missing = [pkg for pkg, command in PLUGIN_PACKAGES.items() if _plugin_missing(command)]
    if not missing:
        return
    say(f"installing the {' and '.join(PLUGIN_PACKAGES[m] for m in missing)} CLI plugin(s) from Debian trixie ...")
    with tempfile.TemporaryDirectory(prefix="imgpipe-apt-") as tmp:
        t = Path(tmp)
        (t / "sources.list").write_text(f"deb {MIRROR} trixie main\n")
        for d in ("lists/partial", "cache/archives/partial"):
            (t / d).mkdir(parents=True)
        opts = [
            f"-o=Dir::Etc::sourcelist={t / 'sources.list'}",
            "-o=Dir::Etc::sourceparts=-",
            f"-o=Dir::State::Lists={t / 'lists'}",
            f"-o=Dir::Cache={t / 'cache'}",
        ]
        _apt(*opts, "update")
        _run(["apt-get", "-qq", *opts, "download", *missing], timeout=300, cwd=tmp)
        PLUGINS.mkdir(parents=True, exist_ok=True)
        for pkg in missing:
            [deb] = t.glob(f"{pkg}_*.deb")
            _run(["dpkg-deb", "-x", str(deb), str(t / pkg)], timeout=120)
            shutil.copy2(t / pkg / "usr" / "libexec" / "docker" / "cli-plugins" / pkg, PLUGINS / pkg)


def start_engine(log: Path, timeout_s: float = 60) -> int:
    """Start dockerd with the flags this kind of machine needs; wait (bounded) until it answers; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["dockerd", *DOCKERD_FLAGS], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ContainersError(f"dockerd exited with code {proc.returncode}; see {log}")
        if not engine_reason():
            return proc.pid
        time.sleep(0.5)
    from pipeline.local.emulator import stop_process

    stop_process(proc.pid)
    raise ContainersError(f"dockerd did not answer within {timeout_s:.0f} s; see {log}")


def leftovers() -> list[str]:
    """Containers, networks and volumes of the compose project or the test fixtures still on the engine."""
    found: list[str] = []
    for kind, fmt in (("container", "{{.Names}}"), ("network", "{{.Name}}"), ("volume", "{{.Name}}")):
        for label in (f"com.docker.compose.project={COMPOSE_PROJECT}", "org.testcontainers=true"):
            args = [kind, "ls", "--filter", f"label={label}", "--format", fmt]
            if kind == "container":
                args.insert(2, "--all")
            proc = docker(*args)
            found += [f"{kind} {n}" for n in proc.stdout.decode().split() if n]
    return sorted(set(found))


def _say(prog: str) -> Callable[[str], None]:
    def say(text: str) -> None:
        sys.stdout.write(f"{prog}: {text}\n")
        sys.stdout.flush()

    return say


def _need_engine(then: str) -> None:
    why = engine_reason()
    if why:
        raise ContainersError(f"{why}: {then}")


def _cmd_resolve(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    _need_engine("start Docker, or run without it: make up MODE=embedded")
    chosen = compose_env(args.profile, os.environ, say)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(f"{k}={v}\n" for k, v in chosen.items()))
    say("images " + ", ".join(chosen.values()))
    return 0


def _every_profile() -> list[str]:
    return sorted({k for keys in PROFILES.values() for k in keys})


def _cmd_images(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    _need_engine("start Docker first (the engine builds the stand-ins)")
    unknown = set(args.keys) - set(IMAGES)
    if unknown:
        raise ContainersError(f"no stand-in named {', '.join(sorted(unknown))}: choose from {', '.join(IMAGES)}")
    build(args.keys or _every_profile(), say)
    prune()
    say(f"disk: {disk_use()} (vfs keeps each layer in full; `docker image rm` them to reclaim it)")
    return 0


def _cmd_ensure(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    _need_engine("start Docker first")
    ensure(_every_profile(), say)
    prune()
    return 0


def _cmd_engine_start(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    why = engine_reason()
    if not why:
        say("a Docker engine already answers; using it, starting none")
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        say(f"{why}, and this is not root with apt to start one: start Docker to run this")
        return 3
    provision_engine(say)
    pid = start_engine(args.log)
    args.pidfile.parent.mkdir(parents=True, exist_ok=True)
    args.pidfile.write_text(f"{pid}\n")
    say(f"started dockerd (pid {pid}, log {args.log})")
    return 0


def _cmd_engine_stop(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    if not args.pidfile.exists():
        return 0
    from pipeline.local.emulator import stop_process

    pid = int(args.pidfile.read_text())
    stop_process(pid, timeout_s=30)
    args.pidfile.unlink()
    say(f"stopped dockerd (pid {pid})")
    return 0


def engine_disk() -> str:
    """What the engine's data root holds on this machine (du's size), or '?' where it cannot be measured from here."""
    root = engine_facts()[1]
    if not root or not Path(root).is_dir():
        return "?"
    proc = subprocess.run(["du", "-sh", root], capture_output=True, text=True, timeout=300, check=False)
    return proc.stdout.split("\t", 1)[0].strip() or "?"


def _cmd_disk(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    sys.stdout.write(f"images: {disk_use()}; engine disk: {engine_disk()}\n")
    return 0


def _cmd_disk_check(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    _need_engine("nothing to check")
    why = disk_shortfall(args.need_gb, engine_facts()[1], _free_bytes)
    if why:
        sys.stderr.write(f"disk-check: {why}\n")
        return 1
    return 0


def _cmd_prune(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    _need_engine("nothing to prune")
    prune()
    return 0


def _cmd_leftovers(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    left = leftovers()
    sys.stdout.write("".join(f"{item}\n" for item in left))
    return 1 if left else 0


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace, Callable[[str], None]], int], str]] = {
    "resolve": (_cmd_resolve, "write the image variables for a compose profile (pulls, or says what to do)"),
    "images": (_cmd_images, "build the stand-ins whose inputs changed (offline, from Debian packages)"),
    "ensure": (_cmd_ensure, "every profile's images: upstream's if here or pullable, else stand-ins (the CI leg)"),
    "engine-start": (_cmd_engine_start, "start a Docker engine where none answers (root with apt installs one)"),
    "engine-stop": (_cmd_engine_stop, "stop the engine engine-start started (by its pidfile)"),
    "prune": (_cmd_prune, "remove dangling images of ours (replaced stand-ins and compose builds)"),
    "disk": (_cmd_disk, "one line: the stand-ins, the disk they take, and what the engine's data root holds"),
    "disk-check": (_cmd_disk_check, "exit 1 with one line when the engine's disk has less free than --need-gb"),
    "leftovers": (_cmd_leftovers, "list containers, networks and volumes of ours left on the engine; exit 1 if any"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.containers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    parsers = {name: sub.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}
    parsers["resolve"].add_argument("--profile", choices=sorted(PROFILES), required=True)
    parsers["resolve"].add_argument(
        "--out", type=Path, required=True, help="the env file for docker compose --env-file"
    )
    parsers["images"].add_argument("keys", nargs="*", help=f"which ({', '.join(IMAGES)}); default: every profile's")
    for name in ("engine-start", "engine-stop"):
        parsers[name].add_argument("--pidfile", type=Path, required=True)
    parsers["engine-start"].add_argument("--log", type=Path, required=True)
    parsers["disk-check"].add_argument("--need-gb", type=float, default=LEG_NEEDS_GB)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The commands the Makefile and the containers leg run; exit 2 with one line on an error, 3 without an engine."""
    args = _parser().parse_args(argv)
    prog = {"images": "make images", "resolve": "make up"}.get(args.cmd, args.cmd)
    try:
        return COMMANDS[args.cmd][0](args, _say(prog))
    except ContainersError as err:
        sys.stderr.write(f"{prog}: {err}\n")
    except subprocess.TimeoutExpired as err:
        sys.stderr.write(f"{prog}: {' '.join(map(str, err.cmd[:3]))} took longer than {err.timeout:.0f} s\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
