"""The peak memory of one call, measured by the kernel (Linux): what a Lambda is killed for."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path


def vm(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def peak_growth(call: Callable[[], object]) -> int:
    """How far the resident set's high-water mark rose above where it stood, while `call` ran (any outcome)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark: this call alone
    before = vm("VmRSS")
    with contextlib.suppress(Exception):  # the caller asserts the outcome; this measures memory whatever it was
        call()
    return vm("VmHWM") - before
