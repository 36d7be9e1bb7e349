"""Pack a dataset folder into the archive format the downloader expects (.tar.xz or .tar).

Like the real MVTec AD and VisA archives, the members sit at the archive's root:
category folders (and VisA's split_csv/) with no enclosing folder. Members are
sorted and carry fixed metadata (mtime 0, owner root, modes 755/644), so the same
folder always packs to the same bytes.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from filo.errors import FiloError
from filo.io import atomic_path

_WRITE_MODES = {".tar.xz": "w:xz", ".tar": "w"}


def _write_mode(archive_path: Path) -> str:
    for suffix, mode in _WRITE_MODES.items():
        if archive_path.name.endswith(suffix):
            return mode
    raise FiloError(f"cannot pack {archive_path}: the archive name must end in {' or '.join(_WRITE_MODES)}")


def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def pack_archive(dataset_dir: str | os.PathLike, archive_path: str | os.PathLike) -> Path:
    """Pack every file under `dataset_dir` into `archive_path` deterministically and atomically."""
    source, archive = Path(dataset_dir), Path(archive_path)
    mode = _write_mode(archive)
    if not source.is_dir():
        raise FiloError(f"cannot pack {source}: it is not a folder; generate the dataset first")
    members = sorted(source.rglob("*"), key=lambda path: path.relative_to(source).as_posix())
    with atomic_path(archive) as tmp, tarfile.open(tmp, mode, format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            arcname = member.relative_to(source).as_posix()
            info = _normalized(tar.gettarinfo(member, arcname=arcname))
            if info.isfile():
                with open(member, "rb") as handle:
                    tar.addfile(info, handle)
            elif info.isdir():
                tar.addfile(info)
            else:
                raise FiloError(f"cannot pack {member}: only regular files and folders go into a dataset archive")
    return archive
