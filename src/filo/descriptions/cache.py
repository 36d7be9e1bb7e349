"""Content-addressed on-disk cache of LLM-generated descriptions.

An entry lives at `<root>/<key[:2]>/<key>.json`; the key is the SHA-256 of everything that
determines the LLM's answer (model, endpoint kind, prompt template, category, generation
parameters) and never of secrets. Entries are written atomically, so readers never see a
half-written entry and need neither network nor key. Concurrent `filo describe` processes
serialize on a per-key lock file (`<root>/locks/<key>.lock`, `lock`): the first asks the LLM
and stores the answer, the others wait and then read that entry, so one key costs one LLM call
and every writer's artifact agrees with the cache.
Replies that failed validation are kept under `<root>/rejected/` for inspection, never as entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from filo.io import atomic_write_text

logger = logging.getLogger(__name__)

CACHE_SCHEMA_VERSION = 1
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def content_key(fields: Mapping[str, object]) -> str:
    """Hex SHA-256 of `fields` in a canonical JSON form (sorted keys, no whitespace)."""
    canonical = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class DescriptionCache:
    """Read and write cached description lists under a root directory."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def entry_path(self, key: str) -> Path:
        """Where the entry for `key` is (or would be) stored."""
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> tuple[str, ...] | None:
        """The cached descriptions for `key`, or None when there is no usable entry."""
        path = self.entry_path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            logger.warning("ignoring unreadable cache entry %s; it will be regenerated", path)
            return None
        descriptions = entry.get("descriptions") if isinstance(entry, dict) else None
        valid = (
            isinstance(entry, dict)
            and entry.get("key") == key
            and isinstance(descriptions, list)
            and descriptions
            and all(isinstance(item, str) and item for item in descriptions)
        )
        if not valid:
            logger.warning("ignoring malformed cache entry %s; it will be regenerated", path)
            return None
        return tuple(descriptions)

    def put(self, key: str, fields: Mapping[str, object], descriptions: tuple[str, ...]) -> Path:
        """Store `descriptions` under `key`, with the key's `fields` for inspection; returns the path."""
        entry = {
            "schema_version": CACHE_SCHEMA_VERSION,
            "key": key,
            "fields": dict(fields),
            "descriptions": list(descriptions),
        }
        path = self.entry_path(key)
        atomic_write_text(path, json.dumps(entry, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        return path

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the exclusive lock of `key` (across processes) for the duration of the block."""
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def save_rejected(self, key: str, category: str, attempt: int, raw_text: str) -> Path:
        """Keep a reply that failed validation for inspection; returns where it was written."""
        safe_category = _UNSAFE_FILE_CHARS.sub("_", category)
        path = self.root / "rejected" / f"{safe_category}-{key[:16]}-attempt{attempt}.txt"
        atomic_write_text(path, raw_text)
        return path
