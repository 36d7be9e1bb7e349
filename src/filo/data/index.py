"""Indexing a dataset tree into a validated manifest (the `filo data index` stage).

Every image found by the layout reader is checked before it goes into the manifest:
the image must be readable and complete, its mask (when it has one) readable, of the
image's size and not empty, and an anomalous image must have a mask wherever its part of
the dataset comes with masks. Grayscale, RGBA and 16-bit files are fine (see
`filo.data.images`). Bad files fail the stage with the full list, or with `skip_bad` go
to a rejects Parquet (`image_path`, `mask_path`, `reason`); nothing is dropped silently.
Image sizes come from file headers; PNG/JPEG completeness is checked from the end marker
(`full_decode` decodes every image instead).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from filo.data.candidates import Candidate, Reject
from filo.data.images import find_decode_problem, load_mask, read_size
from filo.data.index_folder import list_folder
from filo.data.index_mvtec import list_mvtec
from filo.data.index_visa import SPLIT_FILE, list_visa
from filo.data.manifest import COLUMNS, write_manifest
from filo.data.registry import LAYOUTS
from filo.errors import FiloError
from filo.io import atomic_path

REJECT_COLUMNS = ("image_path", "mask_path", "reason")


@dataclass(frozen=True)
class IndexResult:
    """The outcome of indexing: the manifest rows, the rejected files and the has-masks flag."""

    manifest: pd.DataFrame
    rejects: tuple[Reject, ...]
    has_masks: bool
    layout: str


def detect_layout(root: str | os.PathLike) -> str:
    """'visa' when the root holds split_csv/1cls.csv, else 'mvtec' (the folder layout is never guessed: name it)."""
    return "visa" if (Path(root) / SPLIT_FILE).is_file() else "mvtec"


def _check_candidate(candidate: Candidate, root: Path, dataset: str, full_decode: bool) -> dict | Reject:
    """The manifest row of a candidate, or the Reject saying why its files cannot be used."""
    image_file = root / candidate.image_id
    mask_file = root / candidate.mask_id if candidate.mask_id else None
    mask_path = mask_file.as_posix() if mask_file else None

    def reject(reason: str) -> Reject:
        return Reject(image_file.as_posix(), mask_path, reason)

    if not image_file.is_file():
        return reject("image file not found")
    problem = find_decode_problem(image_file, full_decode=full_decode)
    if problem:
        return reject(f"unreadable image: {problem}")
    width, height = read_size(image_file)
    if mask_file is None:
        if candidate.mask_expected:
            return reject("anomalous image without a mask")
    elif not mask_file.is_file():
        return reject("mask file not found")
    else:
        try:
            mask = load_mask(mask_file)
        except FiloError as error:
            return reject(f"unreadable mask: {error}")
        if mask.shape != (height, width):
            return reject(
                f"mask size {mask.shape[1]}x{mask.shape[0]} differs from image size {width}x{height}"
            )
        if not mask.any():
            return reject("empty mask on an anomalous image")
    return {
        "image_id": candidate.image_id,
        "dataset": dataset,
        "category": candidate.category,
        "split": candidate.split,
        "label": candidate.label,
        "defect_type": candidate.defect_type,
        "image_path": image_file.as_posix(),
        "mask_path": mask_path,
        "width": width,
        "height": height,
    }


def scan_dataset(
    root: str | os.PathLike, *, dataset: str, layout: str | None = None, full_decode: bool = False,
    categories: tuple[str, ...] | None = None,
) -> IndexResult:
    """Find and check every image of a dataset tree; returns rows and rejects without writing anything.

    `layout` is "mvtec", "visa" or "folder" (default: detected from the tree, mvtec or visa).
    `categories`: keep only these (a folder-layout tree: its one category's name, default the
    folder's). `has_masks` is true when the dataset has anomalous images and every one of them has a mask.
    """
    root_path = Path(root)
    layout = layout or detect_layout(root_path)
    if layout not in LAYOUTS:
        raise FiloError(f"unknown dataset layout {layout!r}; use one of {LAYOUTS}")
    if layout == "folder":
        candidates, rejects = list_folder(root_path, categories[0] if categories else None)
    else:
        candidates, rejects = (list_visa if layout == "visa" else list_mvtec)(root_path)
        if categories is not None:
            missing = sorted(set(categories) - {candidate.category for candidate in candidates})
            if missing:
                raise FiloError(f"categories {missing} are not in the {layout} dataset at {root}")
            candidates = [candidate for candidate in candidates if candidate.category in categories]
    rows = []
    for candidate in tqdm(candidates, desc=f"index {dataset}", unit="img", disable=None):
        checked = _check_candidate(candidate, root_path, dataset, full_decode)
        if isinstance(checked, Reject):
            rejects.append(checked)
        else:
            rows.append(checked)
    manifest = pd.DataFrame(rows, columns=list(COLUMNS)).sort_values("image_id", ignore_index=True)
    anomalous = manifest[manifest["label"] == 1]
    has_masks = bool(len(anomalous)) and bool(anomalous["mask_path"].notna().all())
    return IndexResult(manifest, tuple(rejects), has_masks, layout)


def format_rejects(rejects: tuple[Reject, ...]) -> str:
    """One line per rejected file: the path(s) and the reason."""
    lines = []
    for item in rejects:
        paths = " / mask ".join(path for path in (item.image_path, item.mask_path) if path)
        lines.append(f"  - {paths}: {item.reason}")
    return "\n".join(lines)


def write_rejects(rejects: tuple[Reject, ...], path: str | os.PathLike) -> None:
    """Write the rejected files atomically as a Parquet table (image_path, mask_path, reason)."""
    table = pa.table(
        {
            column: pa.array([getattr(item, column) for item in rejects], pa.string())
            for column in REJECT_COLUMNS
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def default_rejects_path(manifest_path: str | os.PathLike) -> Path:
    """Where the rejects of a manifest go unless told otherwise: `<name>.rejects.parquet` beside it."""
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(f"{manifest_path.stem}.rejects.parquet")


def index_dataset(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dataset: str,
    layout: str | None = None,
    skip_bad: bool = False,
    rejects_out: str | os.PathLike | None = None,
    full_decode: bool = False,
    categories: tuple[str, ...] | None = None,
) -> IndexResult:
    """Index a dataset tree and write its manifest to `out` (and, with `skip_bad`, its rejects).

    Without `skip_bad` any bad file raises FiloError listing all of them and nothing is
    written. With it, the rejects go to `rejects_out` (default `default_rejects_path(out)`,
    written even when empty so no stale list survives).
    """
    result = scan_dataset(root, dataset=dataset, layout=layout, full_decode=full_decode, categories=categories)
    if result.rejects and not skip_bad:
        raise FiloError(
            f"{len(result.rejects)} bad file(s) in dataset {dataset!r} at {root}:\n{format_rejects(result.rejects)}\n"
            "fix or remove them, or pass --skip-bad to list them in a rejects Parquet and index the rest"
        )
    if result.manifest.empty:
        raise FiloError(f"no usable images found in {root} (layout {result.layout}); check the dataset root")
    if skip_bad:
        write_rejects(result.rejects, rejects_out or default_rejects_path(out))
    write_manifest(result.manifest, out, root=str(root), has_masks=result.has_masks)
    return result


def format_summary(result: IndexResult) -> str:
    """A short table of image counts per category, split and label, plus the masks flag and rejects."""
    manifest = result.manifest
    counts = (
        manifest.assign(label=manifest["label"].map({0: "normal", 1: "anomalous"}))
        .groupby(["category", "split", "label"])
        .size()
        .unstack("label", fill_value=0)
        .reindex(columns=["normal", "anomalous"], fill_value=0)
    )
    masks = "yes" if result.has_masks else "no (image-level only)"
    totals = f"{len(manifest)} images, {manifest['category'].nunique()} categories, layout {result.layout}, masks: {masks}"
    lines = [counts.to_string(), totals]
    if result.rejects:
        lines.append(f"{len(result.rejects)} file(s) rejected")
    return "\n".join(lines)
