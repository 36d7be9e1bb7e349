"""Check a fresh run's metrics against the committed ones, within the tolerance filo promises.

On the machine that made the committed `dvc.lock` a fresh clone's `dvc repro` writes the
same bytes; on another processor or thread count the checkpoints, boxes and metrics move in
the last bits of float32 (`filo.kernels`), so `git status` lists `dvc.lock` and the metrics
files as modified. This check says whether those moves stay within
`filo.kernels.REPRODUCIBLE_METRICS_ABS_TOL`: every metrics file that `dvc.yaml` declares
is read from the workspace and from a git revision, and each number is compared (counts,
names and other non-float values must be equal).
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from filo.errors import FiloError

__all__ = ["MetricComparison", "check_reproduction", "compare_metrics", "declared_metrics_files", "format_report"]


@dataclass(frozen=True)
class MetricComparison:
    """One value of one metrics file: the committed and the fresh value, and whether they agree."""

    file: str
    key: str
    committed: object
    fresh: object
    ok: bool

    @property
    def difference(self) -> float | None:
        """|fresh - committed| for two numbers, else None."""
        if _is_number(self.committed) and _is_number(self.fresh):
            return abs(float(self.fresh) - float(self.committed))
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _leaves(value: object, prefix: str = "") -> dict[str, object]:
    """Flatten nested dicts/lists to dotted keys ("per_category.0.auroc")."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    leaves: dict[str, object] = {}
    for key, child in items:
        leaves.update(_leaves(child, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def _agree(committed: object, fresh: object, tolerance: float) -> bool:
    """Floats within `tolerance` (NaN equals NaN); integers, strings, booleans and None exactly."""
    if isinstance(committed, float) or isinstance(fresh, float):
        if not (_is_number(committed) and _is_number(fresh)):
            return False
        a, b = float(committed), float(fresh)
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance
    return committed == fresh and type(committed) is type(fresh)


def compare_metrics(file: str, committed: dict, fresh: dict, tolerance: float) -> list[MetricComparison]:
    """Compare two metrics documents key by key; a key present in one only is a disagreement."""
    old, new = _leaves(committed), _leaves(fresh)
    return [MetricComparison(file, key, old.get(key), new.get(key),
                             key in old and key in new and _agree(old[key], new[key], tolerance))
            for key in sorted(old.keys() | new.keys())]


def declared_metrics_files(dvc_file: Path) -> list[str]:
    """The metrics files the stages of `dvc_file` declare, relative to its folder, in stage order."""
    try:
        document = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FiloError(f"{dvc_file} not found: run the check in a DVC project folder (the repository root or "
                        "a profile folder)") from None
    files = []
    for stage in (document.get("stages") or {}).values():
        for entry in stage.get("metrics") or []:
            files.extend([entry] if isinstance(entry, str) else list(entry))
    if not files:
        raise FiloError(f"{dvc_file} declares no metrics files: nothing to check")
    return files


def _git(folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *arguments], cwd=folder, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FiloError("git is not installed: the committed metrics are read with `git show`") from None


def _committed_text(folder: Path, path: str, rev: str) -> str | None:
    """The file's text at `rev` (None when that revision has no such file)."""
    prefix = _git(folder, "rev-parse", "--show-prefix")
    if prefix.returncode != 0:
        raise FiloError(f"{folder} is not inside a git repository: the committed metrics cannot be read "
                        f"({prefix.stderr.strip()})")
    shown = _git(folder, "show", f"{rev}:{prefix.stdout.strip()}{path}")
    if shown.returncode != 0:
        if _git(folder, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
            raise FiloError(f"git revision {rev!r} not found: pass --rev with a commit, branch or tag")
        return None
    return shown.stdout


def _read_json(text: str, where: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise FiloError(f"{where} is not valid JSON ({error}); restore it or rerun its stage") from None


def check_reproduction(folder: str | Path = ".", *, rev: str = "HEAD", tolerance: float) -> list[MetricComparison]:
    """Compare every metrics file declared in `folder`/dvc.yaml in the workspace with its version at `rev`.

    A file missing from the workspace or from `rev` is one failed comparison that says so.
    """
    folder = Path(folder)
    comparisons: list[MetricComparison] = []
    for path in declared_metrics_files(folder / "dvc.yaml"):
        committed_text = _committed_text(folder, path, rev)
        fresh_path = folder / path
        if committed_text is None or not fresh_path.is_file():
            comparisons.append(MetricComparison(path, "(file)", "present" if committed_text is not None else "missing",
                                                "present" if fresh_path.is_file() else "missing", False))
            continue
        committed = _read_json(committed_text, f"{path} at {rev}")
        fresh = _read_json(fresh_path.read_text(encoding="utf-8"), str(fresh_path))
        comparisons.extend(compare_metrics(path, committed, fresh, tolerance))
    return comparisons


def format_report(comparisons: list[MetricComparison], *, rev: str, tolerance: float) -> str:
    """A table of every compared value and a last line with the verdict."""
    rows = [("file", "metric", rev, "workspace", "|diff|", "")]
    for item in comparisons:
        difference = item.difference
        rows.append((item.file, item.key, _show(item.committed), _show(item.fresh),
                     "" if difference is None else f"{difference:.2e}", "ok" if item.ok else "DIFFERENT"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    failed = [item for item in comparisons if not item.ok]
    numbers = [item.difference for item in comparisons if item.difference is not None]
    largest = f"largest difference {max(numbers):.2e}; " if numbers else ""
    if failed:
        lines.append(f"NOT reproduced: {len(failed)} of {len(comparisons)} values differ from {rev} by more than "
                     f"{tolerance:g} or in a non-float value ({largest}see DIFFERENT above)")
    else:
        lines.append(f"reproduced: {len(comparisons)} values within {tolerance:g} of {rev} ({largest}"
                     "non-float values equal)")
    return "\n".join(lines)


def _show(value: object) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)
