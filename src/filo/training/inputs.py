"""Loading and checking what a training run reads: manifest, descriptions, evaluation overlap."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filo.data.index import detect_layout
from filo.data.manifest import read_manifest
from filo.descriptions import CategoryDescriptions, load_descriptions
from filo.errors import FiloError
from filo.io import sha256_file
from filo.training.params import MVTEC_AUG_RATE

if TYPE_CHECKING:
    import pandas as pd

TRAIN_SPLIT = "test"
"""The protocol trains on the source dataset's test split (and evaluates on another dataset)."""


@dataclass(frozen=True)
class TrainingInputs:
    """A validated manifest + descriptions pair, with the hashes that identify them."""

    manifest: pd.DataFrame
    descriptions: dict[str, CategoryDescriptions]
    categories: tuple[str, ...]
    """Sorted raw names of the categories trained on (those of the manifest's test split)."""
    dataset: str
    """The manifest's dataset name (e.g. 'mvtec', 'synth_mvtec')."""
    manifest_sha256: str
    descriptions_sha256: str


def load_training_inputs(manifest_path: str | os.PathLike, descriptions_path: str | os.PathLike) -> TrainingInputs:
    """Read both artifacts and check that every training category has descriptions."""
    manifest = read_manifest(manifest_path)
    train_rows = manifest[manifest["split"] == TRAIN_SPLIT]
    if train_rows.empty:
        raise FiloError(f"manifest {manifest_path} has no {TRAIN_SPLIT!r} images, which the protocol trains on")
    datasets = sorted(train_rows["dataset"].unique())
    if len(datasets) != 1:
        raise FiloError(f"manifest {manifest_path} mixes datasets {datasets}; train on one dataset's manifest")
    descriptions = load_descriptions(descriptions_path)
    categories = tuple(sorted(train_rows["category"].unique()))
    missing = [category for category in categories if category not in descriptions]
    if missing:
        raise FiloError(
            f"descriptions {descriptions_path} have no entry for categories {missing} of {manifest_path}; "
            f"run `filo describe --manifest {manifest_path} --out {descriptions_path}`"
        )
    return TrainingInputs(
        manifest=manifest,
        descriptions=descriptions,
        categories=categories,
        dataset=datasets[0],
        manifest_sha256=sha256_file(manifest_path),
        descriptions_sha256=sha256_file(descriptions_path),
    )


def check_no_overlap(categories: tuple[str, ...], eval_manifest_path: str | os.PathLike) -> None:
    """Refuse training categories that the evaluation dataset also has (zero-shot protocol)."""
    evaluated = set(read_manifest(eval_manifest_path)["category"])
    shared = sorted(set(categories) & evaluated)
    if shared:
        raise FiloError(
            f"training categories {shared} also appear in the evaluation manifest {eval_manifest_path}; "
            "zero-shot evaluation needs disjoint categories: train on the other dataset"
        )


def resolve_aug_rate(aug_rate: float | None, manifest: pd.DataFrame) -> float:
    """The mosaic rate: `aug_rate` when set, else 0.2 for an MVTec-layout source and 0 for VisA's."""
    if aug_rate is not None:
        return aug_rate
    root = Path(manifest.attrs["root"])
    if not root.is_dir():
        raise FiloError(
            f"cannot tell the layout of dataset root {root} (not found from {Path.cwd()}) to choose the "
            "augmentation rate; run from the directory the manifest was indexed from, or set train.aug_rate"
        )
    return MVTEC_AUG_RATE if detect_layout(root) == "mvtec" else 0.0
