"""When the pipeline has settled, as a user means it: every upload ended, its deferred variants included, and both
queues (the jobs and the deferred variants) drained: nothing visible, in flight or delayed.

A deferred job is sent before its record is completed, so once a record is processed its job is already queued:
ended items and empty queues together cannot miss a variant still to come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline import wiring
from pipeline.aws import Clients
from pipeline.errors import TransientError
from pipeline.settings import Settings

EMPTY = {"visible": 0, "in_flight": 0, "delayed": 0}


def queue_depths(settings: Settings, clients: Clients) -> dict[str, dict[str, int]]:
    """Visible, in-flight and delayed messages of the jobs queue and of the variants queue (when there is one)."""
    depths = {"jobs": wiring.jobs_queue(settings, clients).depth(), "variants": dict(EMPTY)}
    variants = wiring.variants_queue(settings, clients)
    if variants is not None:
        depths["variants"] = variants.depth()
    return depths


def queued(settings: Settings, clients: Clients) -> int:
    """Every message still waiting in either queue, however it waits."""
    return sum(sum(d.values()) for d in queue_depths(settings, clients).values())


@dataclass(frozen=True)
class Progress:
    """Items by status and the queues' depths, read at one moment."""

    items: dict[str, int]
    queues: dict[str, dict[str, int]]

    @property
    def ended(self) -> int:
        """Items processed or failed."""
        return self.items.get("processed", 0) + self.items.get("failed", 0)

    def settled(self, expected: int) -> bool:
        """Every expected item ended, none processing, and both queues empty."""
        drained = all(sum(d.values()) == 0 for d in self.queues.values())
        return self.ended >= expected and not self.items.get("processing", 0) and drained

    def moving(self, expected: int) -> str:
        """What is still moving, in words (for a bound that was hit)."""
        parts = [f"{self.ended} of {expected} items ended, {self.items.get('processing', 0)} processing"]
        for name, depth in self.queues.items():
            if any(depth.values()):
                parts.append(f"{name} queue: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in depth.items()))
        return "; ".join(parts)


def progress(settings: Settings, clients: Clients) -> Progress:
    """Read the items' counts and both queues' depths now."""
    return Progress(wiring.records(settings, clients).count_by_status(), queue_depths(settings, clients))


class NotSettled(TimeoutError):
    """The bound was hit while something was still moving (the message says what)."""


def wait_settled(
    read: Callable[[], Progress],
    expected: int,
    *,
    timeout_s: float,
    every_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Read progress until it has settled twice in a row (queue counts are approximate), at most timeout_s."""
    deadline, calm = clock() + timeout_s, 0
    now: Progress | None = None
    while True:
        try:
            now = read()
            calm = calm + 1 if now.settled(expected) else 0
        except TransientError:
            # A reading the emulator failed (LocalStack's DynamoDB answered InternalFailure under a 10,000 burst and
            # ended the soak): nothing is known this time; the next reading decides.
            calm = 0
        if calm >= 2 and now is not None:
            return now
        if clock() >= deadline:
            moving = now.moving(expected) if now is not None else "no reading succeeded"
            raise NotSettled(f"not settled after {timeout_s:.0f} s: {moving}")
        sleep(every_s)
