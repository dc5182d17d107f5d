"""The local worker's render processes: the same result and errors as rendering in line, admitted by the memory
gate with the image's own need, and a dead render process fails only its images, as a retry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from pipeline.errors import ImageError, TransientError
from pipeline.imaging import Limits, RenderResult, admission, render
from pipeline.local.emulator import alive
from pipeline.local.render_pool import RenderPool
from pipeline.settings import DEFAULT_RENDITIONS, Rendition, parse_renditions
from tests.images import encode, marked

R = parse_renditions(DEFAULT_RENDITIONS)
ROOT = Path(__file__).resolve().parents[2]


def _die(data: bytes, renditions: Sequence[Rendition], limits: Limits) -> RenderResult:
    """A render process killed mid-render (the kernel's OOM killer, a decoder's crash)."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


@pytest.fixture
def pool() -> Iterator[RenderPool]:
    p = RenderPool(2)
    try:
        yield p
    finally:
        p.close()


def test_the_pool_renders_what_render_does(pool: RenderPool) -> None:
    data = encode(marked(1200, 900), "JPEG", quality=90)
    here = render(data, R, Limits())
    there = pool.render(data, R, Limits())
    assert [(r.name, r.format, r.width, r.height, r.data) for r in there.renditions] == [
        (r.name, r.format, r.width, r.height, r.data) for r in here.renditions
    ]
    assert (there.source, there.identity, there.animation) == (here.source, here.identity, here.animation)


def test_a_bad_image_fails_in_the_pool_as_it_does_in_line(pool: RenderPool) -> None:
    with pytest.raises(ImageError) as here:
        render(b"not an image at all", R, Limits())
    with pytest.raises(ImageError) as there:
        pool.render(b"not an image at all", R, Limits())
    assert (there.value.code, str(there.value)) == (here.value.code, str(here.value))


def test_the_gate_is_held_in_the_worker_with_the_images_own_need(pool: RenderPool) -> None:
    held: list[int] = []

    def gate(n: int) -> AbstractContextManager[object]:
        held.append(n)
        return nullcontext()

    data = encode(marked(2000, 1500), "JPEG", quality=90)
    pool.render(data, R, Limits(gate=gate))
    assert held == [admission(data, R, Limits()).need] and held[0] > 0


def test_the_cmyk_profile_is_read_in_the_worker_only_for_an_image_that_asks_for_it(pool: RenderPool) -> None:
    asked: list[int] = []

    def profile() -> bytes | None:
        asked.append(1)
        return None

    pool.render(encode(marked(300, 200), "JPEG"), R, Limits(cmyk_profile=profile))
    assert asked == []
    cmyk = encode(Image.new("CMYK", (300, 200), (0, 200, 200, 0)), "JPEG")
    out = pool.render(cmyk, R, Limits(cmyk_profile=profile))
    assert asked == [1] and out.renditions[0].format == "JPEG"


def test_a_render_process_that_dies_is_a_retry_and_the_pool_recovers() -> None:
    dying = RenderPool(1, target=_die)
    try:
        with pytest.raises(TransientError) as e:
            dying.render(encode(marked(300, 200), "JPEG"), R, Limits())
        assert e.value.code == "render_process_died"
        # AND the next image gets new processes (here: the real render)
        dying.target = render
        assert len(dying.render(encode(marked(300, 200), "JPEG"), R, Limits()).renditions) == 9
    finally:
        dying.close()


def test_the_gate_is_released_when_the_render_fails(pool: RenderPool) -> None:
    held = {"now": 0}

    @contextmanager
    def gate(n: int) -> Iterator[None]:
        held["now"] += n
        try:
            yield
        finally:
            held["now"] -= n

    with pytest.raises(ImageError):
        pool.render(encode(marked(300, 200), "JPEG")[:400], R, replace(Limits(), gate=gate))
    assert held["now"] == 0


_KILLED_WORKER = """
import sys, time
from pipeline.imaging import Limits
from pipeline.local.emulator import alive
from pipeline.local.render_pool import RenderPool
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import encode, marked
pool = RenderPool(2)
pool.render(encode(marked(300, 200), "JPEG"), parse_renditions(DEFAULT_RENDITIONS), Limits())
print(" ".join(str(p) for p in pool._executor()._processes), flush=True)
time.sleep(60)
"""


def test_render_processes_end_when_the_worker_is_killed_outright(tmp_path: Path) -> None:
    # A worker killed by SIGKILL (the OOM killer, a test) once left its render processes and the fork server running
    # for ever: each render process holds its own queue's write end, so it never saw the worker go.
    # Killed outright, it cannot remove its fork server's socket folder (pymp-*): that goes in the test's own.
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WORKER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        children = [int(p) for p in proc.stdout.readline().split()]
        assert children and all(alive(p) for p in children)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = [p for p in children if alive(p)]
    for pid in leftovers:  # not left behind by a failing run either (the fork server ends with them)
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, "render processes outlived their worker"


def test_the_render_processes_are_counted_in_the_workers_process_tree(pool: RenderPool) -> None:
    # make bench and the soak count the worker's CPU and memory over its tree: the renders run below it now.
    from pipeline.local.emulator import process_tree

    pool.render(encode(marked(300, 200), "JPEG"), R, Limits())
    tree = process_tree(os.getpid())
    assert tree[0] == os.getpid() and set(pool._executor()._processes) <= set(tree)
