"""The seconds each phase of a run takes: `with phases.timed("cache_fill"): ...` logs and records them.

finetune runs its phases (data, model, cache fill, training, each scoring pass, the save) one after
another and times each; metrics.json keeps the seconds in phase order (RunMetrics.phase_seconds), and
the phases a run left out on purpose with the reason (RunMetrics.skipped_phases).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


class Phases:
    """The seconds of every phase timed so far, in the order they ran, and the phases skipped."""

    def __init__(self, device: torch.device, log: Callable[[str], None]) -> None:
        self.device = device
        self.log = log
        self.seconds: dict[str, float] = {}
        self.skipped: dict[str, str] = {}  # phase -> why it did not run

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the body as phase name; log "Time, name: X.X s" when it ends."""
        start = self._clock()
        yield
        seconds = self._clock() - start
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.log(f"Time, {name}: {seconds:.1f} s")

    def skip(self, name: str, reason: str) -> None:
        """Record (and log) that phase name did not run, and why."""
        self.skipped[name] = reason
        self.log(f"Time, {name}: {reason}")

    def _clock(self) -> float:
        # CUDA kernels run asynchronously: wait for the queued work, or it would count in a later phase.
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()
