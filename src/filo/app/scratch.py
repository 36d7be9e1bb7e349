"""The app's scratch files of predictions, within a byte budget (`app.scratch_mb`).

Each prediction request writes into a folder of its own (the upload, if any, and the
overlays). Once the request is done, `ScratchResults.keep` records the folder's size; while
the kept folders hold more than the budget, the oldest ones are deleted, except the newest
(whatever its size) and any younger than `GRACE_S`: the page fetches a result's photo and
overlay right after the answer, so they are not deleted under it. A failed request's folder
is deleted at once (`discard`).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

GRACE_S = 60.0
"""Seconds a prediction's files are kept whatever the budget (the page fetches them right after the answer)."""


@dataclass(frozen=True)
class _Kept:
    folder: Path
    size: int
    made: float


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class ScratchResults:
    """Request folders under `root`, oldest first, deleted beyond `budget_bytes` (see the module docstring)."""

    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget_bytes = budget_bytes
        self.grace_s = GRACE_S
        self._kept: deque[_Kept] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def kept_bytes(self) -> int:
        """Bytes held by the kept folders."""
        return self._bytes

    def new(self) -> Path:
        """A new, empty folder for one request's files."""
        folder = self.root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def keep(self, folder: Path) -> list[Path]:
        """Record the finished request's `folder`; delete the oldest folders beyond the budget; return those."""
        kept = _Kept(folder, folder_bytes(folder), time.monotonic())
        deleted = []
        with self._lock:
            self._kept.append(kept)
            self._bytes += kept.size
            while (self._bytes > self.budget_bytes and len(self._kept) > 1
                   and time.monotonic() - self._kept[0].made >= self.grace_s):
                oldest = self._kept.popleft()
                self._bytes -= oldest.size
                shutil.rmtree(oldest.folder)
                deleted.append(oldest.folder)
        return deleted

    def discard(self, folder: Path) -> None:
        """Delete the folder of a request that failed (nothing in it is served)."""
        if folder.exists():  # absent when the app closed (and removed its whole scratch folder) first
            shutil.rmtree(folder)
