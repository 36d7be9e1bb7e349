"""Safe, all-or-nothing extraction of a dataset archive (tar, tar.gz, tar.xz).

Every member is checked before it is written: no absolute paths, no `..`, no symbolic or
hard links pointing outside the archive root, no device files or FIFOs; Python's tar
`data` filter then guards the write itself. The archive is unpacked into a temporary
folder beside the destination and renamed into place only when every member is out, so a
crash never leaves a half-extracted dataset that looks complete. A hidden marker file
(`.filo-source.json`, holding the archive's SHA-256) makes a finished extraction
recognisable, so extracting the same archive again is a no-op.
"""

from __future__ import annotations

import json
import lzma
import os
import posixpath
import tarfile
import zlib
from pathlib import Path

from tqdm import tqdm

from filo.errors import FiloError
from filo.io import atomic_path

MARKER_NAME = ".filo-source.json"


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why extracting this tar member could write outside the destination or create a device, or None."""
    name = member.name
    if name.startswith(("/", "\\")) or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in Path(name.replace("\\", "/")).parts:
        return "climbs out of the archive root with '..'"
    if member.ischr() or member.isblk() or member.isfifo():
        return "is a device file or FIFO"
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
            return f"is a link pointing outside the archive root ({target!r})"
    return None


def read_marker(dataset_dir: str | os.PathLike) -> str | None:
    """The archive SHA-256 a dataset folder was extracted from, or None when it has no readable marker."""
    try:
        return json.loads((Path(dataset_dir) / MARKER_NAME).read_text())["archive_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_extracted(dataset_dir: str | os.PathLike, sha256: str) -> bool:
    """True when `dataset_dir` holds an extraction of the archive `sha256`, False when it does not exist.

    Raises FiloError for an existing folder with anything else in it (it is never touched).
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.exists():
        return False
    found = read_marker(dataset_dir)
    if found == sha256:
        return True
    origin = f"from another archive (SHA-256 {found})" if found else "that filo did not extract"
    raise FiloError(
        f"{dataset_dir} already exists and holds data {origin}; it is left untouched: "
        "move or delete it, or choose another --root"
    )


def _extract_members(archive: Path, target: Path) -> int:
    """Check and extract every member of `archive` into `target`; returns the member count."""
    count = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in tqdm(tar, desc=f"extract {archive.name}", unit="file", disable=None):
            reason = unsafe_member_reason(member)
            if reason:
                raise FiloError(
                    f"refusing to extract {archive}: member {member.name!r} {reason}; "
                    "the archive is unsafe or not the dataset archive, do not use it"
                )
            try:
                tar.extract(member, target, filter="data")
            except tarfile.FilterError as error:
                raise FiloError(
                    f"refusing to extract {archive}: member {member.name!r} was rejected ({error}); "
                    "the archive is unsafe or not the dataset archive, do not use it"
                ) from error
            count += 1
    return count


def extract_archive(archive: str | os.PathLike, dataset_dir: str | os.PathLike, *, sha256: str) -> Path:
    """Extract `archive` (whose verified SHA-256 is `sha256`) to `dataset_dir`, all or nothing.

    Returns `dataset_dir`. Does nothing when it already holds an extraction of the same
    archive. Refuses (FiloError) to touch an existing folder that is anything else.
    """
    archive, dataset_dir = Path(archive), Path(dataset_dir)
    if is_extracted(dataset_dir, sha256):
        return dataset_dir
    with atomic_path(dataset_dir) as tmp:
        tmp.mkdir()
        try:
            count = _extract_members(archive, tmp)
        except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as error:
            raise FiloError(
                f"cannot extract {archive} ({error}); the file is damaged: delete it and download again"
            ) from error
        if count == 0:
            raise FiloError(f"{archive} is an empty archive; delete it and download again")
        (tmp / MARKER_NAME).write_text(json.dumps({"archive": archive.name, "archive_sha256": sha256}) + "\n")
    return dataset_dir
