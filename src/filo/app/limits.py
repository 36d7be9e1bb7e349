"""Bounded work for `filo app`: at most `max_concurrent` forwards at once, a short queue, then 429.

A prediction request is admitted (`WorkLimit.admitted`) before its upload is read; while
`max_concurrent + max_queue` requests are admitted, the next one is refused at once with
`Busy`, which carries a Retry-After estimate from the recent forward times. Inside, each
forward holds one of `max_concurrent` slots (`WorkLimit.forward`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from filo.errors import FiloError

SMOOTHING = 0.2
"""Weight of the newest forward time in the running mean behind Retry-After."""


class Busy(FiloError):
    """Every forward slot and queue place is taken (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WorkLimit:
    """Admission (running + queued requests) and forward slots, shared by every request thread."""

    def __init__(self, max_concurrent: int, max_queue: int) -> None:
        self.max_concurrent = max_concurrent
        self.capacity = max_concurrent + max_queue
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._lock = threading.Lock()
        self._admitted = 0
        self._mean_forward_s = 1.0

    @property
    def admitted_now(self) -> int:
        """Requests admitted and not finished (running or queued)."""
        return self._admitted

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: the queue ahead of a newcomer at the mean forward time."""
        rounds = math.ceil(self._admitted / self.max_concurrent)
        return max(1, math.ceil(rounds * self._mean_forward_s))

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold a place (running or queued) for one request; Busy when none is free."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise Busy(f"filo app is busy: {self.max_concurrent} prediction(s) running and "
                           f"{self.capacity - self.max_concurrent} waiting (app.max_concurrent, app.max_queue); "
                           "retry later", self.retry_after_s())
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    @contextmanager
    def forward(self) -> Iterator[None]:
        """Run one forward in a slot (waits for one), timing it for Retry-After."""
        with self._slots:
            start = time.perf_counter()
            try:
                yield
            finally:
                elapsed = time.perf_counter() - start
                with self._lock:
                    self._mean_forward_s += SMOOTHING * (elapsed - self._mean_forward_s)
