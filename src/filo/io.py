"""Crash-safe file output: nothing half-written ever appears at a final path.

Temporaries live next to their final path as `.<name>.<pid>.<host>.<random>.tmp` (and the
previous version of a replaced folder, for an instant, as `.<name>.<pid>.<host>.old`). A run
killed mid-write (SIGKILL, power loss) leaves them behind; the next write of the same path
removes those whose process is gone (same host, pid no longer running) and puts back a
previous folder that a kill left aside. A full disk raises `DiskFullError`: one line naming
the path, the free space and the space needed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from filo.errors import FiloError

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class DiskFullError(FiloError):
    """No room to write an output: the message names the path, the free space and the space needed."""


def format_bytes(count: float) -> str:
    """A byte count for people: "512 B", "3.2 MB", "1.5 GB"."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def free_bytes(path: str | os.PathLike) -> int:
    """Free space (bytes, for this user) on the file system holding `path` (or its nearest existing parent)."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def is_disk_full(error: BaseException) -> bool:
    """True for an OSError meaning "no space left on device" / "disk quota exceeded" (also pyarrow's)."""
    return isinstance(error, OSError) and (
        error.errno in _DISK_FULL_ERRNOS or "No space left on device" in str(error) or "Disk quota" in str(error)
    )


def disk_full_error(path: str | os.PathLike, needed: int | None) -> DiskFullError:
    """The one-line error for a write to `path` that found the disk full (`needed`: its size, when known)."""
    free = format_bytes(free_bytes(path))
    space = f"{format_bytes(needed)} needed, {free} free there" if needed else f"it needs more than the {free} free there"
    return DiskFullError(
        f"no space left on the device to write {path}: {space}; free some space or write the output elsewhere"
    )


def ensure_free_space(path: str | os.PathLike, needed: int, *, what: str) -> None:
    """Fail fast, before long work, when the file system of `path` has less than `needed` bytes free."""
    free = free_bytes(path)
    if free < needed:
        raise DiskFullError(
            f"not enough free space for {what} at {path}: about {format_bytes(needed)} needed, "
            f"{format_bytes(free)} free; free some space or write the output elsewhere"
        )


def _host_tag() -> str:
    """This machine's short host name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def _process_running(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final_path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of `final_path` left by killed writers on this host; returns what was removed.

    A previous folder left aside by a writer killed between its two renames is put back
    when no final version exists, instead of being removed.
    """
    final = Path(final_path)
    if not final.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(\d+)\.([A-Za-z0-9-]+)\.(?:.*\.tmp|old)$")
    removed = []
    for candidate in sorted(final.parent.iterdir()):
        match = pattern.match(candidate.name)
        if not match or match.group(2) != _host_tag():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _process_running(pid):
            continue
        if candidate.name.endswith(".old") and not final.exists():
            candidate.rename(final)
            continue
        shutil.rmtree(candidate) if candidate.is_dir() and not candidate.is_symlink() else candidate.unlink()
        removed.append(candidate)
    return removed


def _carry_foreign_files(old: Path, new: Path, owned: Collection[str]) -> None:
    """Copy into `new` the files of the folder `old` that the writer does not own and did not write."""
    for source in sorted(old.rglob("*")):
        relative = source.relative_to(old).as_posix()
        if source.is_dir() or relative in owned or (new / relative).exists():
            continue
        (new / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, new / relative, follow_symlinks=False)


@contextlib.contextmanager
def atomic_path(
    final_path: str | os.PathLike,
    *,
    suffix: str = "",
    size_hint: int | None = None,
    owned: Collection[str] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path next to `final_path`; on success rename it into place.

    Works for files and directories alike: the caller writes whatever it wants at the
    yielded path. On any exception the temporary is removed and `final_path` is left
    untouched (a previous version stays as it was). Stale temporaries of killed writers
    are removed first (`remove_stale_temporaries`).

    `size_hint`: the bytes about to be written; the free space is checked before writing.
    `owned`: for a folder output, the relative paths of every file the writer may create;
    files of the previous folder outside that set (such as the `.gitignore` DVC places
    there) are kept in the new folder. Without it the new folder replaces the old wholesale.
    A full disk raises `DiskFullError` naming `final_path`.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    if size_hint is not None:
        ensure_free_space(final.parent, size_hint, what=str(final))
    tag = f".{final.name}.{os.getpid()}.{_host_tag()}."
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=tag, suffix=f"{suffix}.tmp", dir=final.parent)
    except OSError as error:
        if is_disk_full(error):
            raise disk_full_error(final, size_hint) from error
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary path for {final}")
        if tmp.is_dir() and final.is_dir() and owned is not None:
            _carry_foreign_files(final, tmp, owned)
        if tmp.is_dir() and final.exists():
            backup = final.with_name(f"{tag}old")
            final.rename(backup)
            tmp.rename(final)
            shutil.rmtree(backup) if backup.is_dir() else backup.unlink()
        else:
            os.replace(tmp, final)
    except OSError as error:
        if is_disk_full(error):
            _remove(tmp)  # so that the free space reported is what the user has to work with
            raise disk_full_error(final, size_hint) from error
        raise
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    """Delete a temporary file or folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (readers see the old or the new file, never a mix)."""
    with atomic_path(path, size_hint=len(data)) as tmp, open(tmp, "wb") as handle:
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
