"""Lineage of a registered version: the git commit it was made from and the hashes of its inputs.

An input named in `dvc.lock` (as a stage's dep or out) is identified by DVC's md5 of it,
so the version points at exactly what `dvc checkout` restores; any other input by the
sha256 of its contents.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from filo.errors import FiloError
from filo.io import sha256_file
from filo.tracking import git_state


@dataclass(frozen=True)
class Lineage:
    """Where a version came from."""

    git_commit: str | None
    """HEAD commit of the repository the inputs live in (None outside a git repository)."""
    git_dirty: bool | None
    """Whether tracked files differed from that commit (None outside a git repository)."""
    input_hashes: dict[str, str] = field(default_factory=dict)
    """Input path -> "md5:<hex>" (from dvc.lock) or "sha256:<hex>"."""

    def as_tags(self) -> dict[str, str]:
        """Flat string tags for MLflow: git.commit, git.dirty and input.<path>."""
        tags = {f"input.{path}": digest for path, digest in self.input_hashes.items()}
        if self.git_commit is not None:
            tags["git.commit"] = self.git_commit
            tags["git.dirty"] = str(self.git_dirty).lower()
        return tags


def dvc_lock_hashes(lock_path: str | os.PathLike) -> dict[Path, str]:
    """Absolute path -> md5 of every dep and out recorded in a `dvc.lock` (empty when there is none)."""
    lock_path = Path(lock_path)
    if not lock_path.is_file():
        return {}
    try:
        document = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise FiloError(f"{lock_path} is not valid YAML ({error}); restore it with `git checkout dvc.lock`") from error
    hashes: dict[Path, str] = {}
    for stage in (document.get("stages") or {}).values():
        for entry in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            if isinstance(entry, Mapping) and "path" in entry and "md5" in entry:
                hashes[(lock_path.parent / entry["path"]).resolve()] = str(entry["md5"])
    return hashes


def input_hash(path: Path, locked: Mapping[Path, str]) -> str:
    """"md5:<dvc md5>" when dvc.lock names the path itself, else "sha256:<hex>" of its contents."""
    resolved = path.resolve()
    if resolved in locked:
        return f"md5:{locked[resolved]}"
    return f"sha256:{sha256_file(path)}"


def collect_lineage(
    inputs: Iterable[str | os.PathLike], *, dvc_lock: str | os.PathLike = "dvc.lock", repo: str | os.PathLike = "."
) -> Lineage:
    """Git state of `repo` and the hash of every input file (keyed by the path as given)."""
    locked = dvc_lock_hashes(dvc_lock)
    commit, dirty = git_state(repo)
    hashes = {Path(path).as_posix(): input_hash(Path(path), locked) for path in inputs}
    return Lineage(commit, dirty, hashes)
