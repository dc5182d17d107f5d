"""What both fuzzers hold every case to (the exception type, a time bound, the memory budget), and how they keep
what broke it."""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

from pipeline.errors import ImageError
from pipeline.imaging import Limits, RenderResult, render
from pipeline.settings import Rendition
from tests.peak import vm


def bounded_render(
    data: bytes, renditions: tuple[Rendition, ...], limits: Limits, case_s: float
) -> tuple[RenderResult | None, str | None]:
    """Render one case: (the result, None after an ImageError; what broke the property: an exception, time, memory)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak: measure this case alone
    before, started = vm("VmRSS"), time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about every truncated read; the outcome is what counts
            result: RenderResult | None = render(data, renditions, limits)
    except ImageError:
        result = None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"
    took, grew = time.monotonic() - started, vm("VmHWM") - before
    if took > case_s:
        return None, f"took {took:.1f} s"
    # The estimate may be off by a little, never by more than half again plus allocator slack.
    if grew > limits.max_work_bytes * 1.5 + (32 << 20):
        return None, f"peak grew by {grew >> 20} MiB over a budget of {limits.max_work_bytes >> 20} MiB"
    return result, None


def keep(folder: Path, stem: str, data: bytes, why: str) -> Path:
    """Keep a case that broke a property (and why), to be replayed first from then on."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(why + "\n")
    return path
