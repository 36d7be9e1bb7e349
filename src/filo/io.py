"""Crash-safe file output: nothing half-written ever appears at a final path."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filo.errors import FiloError


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to `final_path`; on success rename it into place.

    Works for files and directories alike: the caller writes whatever it wants at the
    yielded path. On any exception the temporary is removed and `final_path` is left
    untouched (a previous version stays as it was).
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f"{suffix}.tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary path for {final}")
        if tmp.is_dir() and final.exists():
            backup = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(backup)
            tmp.rename(final)
            shutil.rmtree(backup) if backup.is_dir() else backup.unlink()
        else:
            os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (readers see the old or the new file, never a mix)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json_document(path: str | os.PathLike, *, what: str, hint: str) -> Any:
    """Parse a JSON file written by a filo stage.

    A missing or unparsable file raises FiloError naming `what` ("verdict file", ...),
    the path, the problem and `hint` (how to get a good file).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise FiloError(f"{what} {path} does not exist; {hint}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FiloError(f"{what} {path} is not readable JSON ({error}); {hint}") from error
