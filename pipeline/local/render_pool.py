"""Rendering in processes of their own, one per core: what the local worker does instead of rendering in its
pollers' threads, where the GIL held back 7 to 20% of two cores (docs/performance.md). Lambda needs none of this:
it runs one image per process already."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

from pipeline.errors import TransientError
from pipeline.imaging import Limits, RenderResult, admission, render
from pipeline.local.emulator import alive
from pipeline.settings import Rendition
from pipeline.work import Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Given:
    """The operator's CMYK profile, read by the worker process (where the loader and its client live) and sent on."""

    profile: bytes | None

    def __call__(self) -> bytes | None:
        return self.profile


def _start_render_process(worker: int) -> None:
    """In a render process, first: leave Ctrl-C to the worker, and end with it."""
    # Ctrl-C at a terminal reaches the whole group; stopping is the worker's to do (it waits for the renders under
    # way), not a traceback from each render process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(worker,), name="end-with-worker", daemon=True).start()


def _end_with(worker: int) -> None:
    """Exit when the worker process does. A worker killed outright (SIGKILL, the OOM killer) would otherwise leave
    its render processes waiting for work for ever: each holds its own queue's write end, and the fork server
    stays up while they do (seen: a test's killed worker left both running)."""
    try:
        fd = os.pidfd_open(worker)
    except (OSError, AttributeError):  # no pidfd (an old kernel): ask every second
        while alive(worker):
            time.sleep(1)
    else:
        select.select([fd], [], [])  # readable once the process has ended
    os._exit(0)


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class RenderPool:
    """Renders each image in one of `processes` processes, admitted here first by the memory gate with what its
    headers say it will hold (imaging.admission), so together they hold no more than in threads.

    A render process that dies (killed for memory, a decoder crash) fails only the images it was rendering, as a
    TransientError (retried, then the DLQ: what Lambda does when a function instance dies); the pool is replaced.
    """

    def __init__(self, processes: int, target: Renderer = render) -> None:
        self.processes, self.target = processes, target
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Never fork: the worker runs threads (pollers, boto3's), and a fork copies their locks mid-use.
                # The fork server has the imaging core imported once; each process starts from it in milliseconds.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["pipeline.imaging"])
                self._pool = ProcessPoolExecutor(
                    self.processes, mp_context=context, initializer=_start_render_process, initargs=(os.getpid(),)
                )
            return self._pool

    def render(self, data: bytes, renditions: Sequence[Rendition], limits: Limits) -> RenderResult:
        """imaging.render, in a render process: the same result, the same errors."""
        planned = admission(data, renditions, limits)
        with limits.gate(planned.need):
            # Read here (once, by the worker's own loader), and only for an image that asks for it, as render does.
            profile = limits.cmyk_profile() if planned.cmyk_profile else None
            sent = replace(limits, gate=contextlib.nullcontext, cmyk_profile=_Given(profile))
            pool = self._executor()
            try:
                return pool.submit(self.target, data, tuple(renditions), sent).result()
            except BrokenProcessPool as e:
                self._replace(pool)
                raise TransientError(
                    "the render process died (killed for memory, or a decoder crashed): the job is retried",
                    code="render_process_died",
                ) from e

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                log.error("a render process died; starting new ones", extra={"processes": self.processes})
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the render processes (waiting for the renders under way)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
