"""Fixtures of the evaluation tests: a tiny synthetic test set, its descriptions and tiny checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from evaluation_helpers import write_centre_boxes, write_tiny_checkpoint

from filo.data.index import index_dataset
from filo.data.manifest import read_manifest, write_manifest
from filo.data.synthetic import generate_dataset
from filo.descriptions import resolve_descriptions, write_descriptions

CATEGORIES = ("woven_fabric", "round_part")


@dataclass(frozen=True)
class TinyInputs:
    """Paths of everything `evaluate` reads."""

    manifest: Path
    manifest_without_masks: Path
    descriptions: Path
    boxes: Path
    model: Path


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory) -> TinyInputs:
    """Two synthetic MVTec-layout categories, 3 normal + 1 per defect type test images each."""
    root = tmp_path_factory.mktemp("evaluation-inputs")
    generate_dataset(
        "mvtec", root / "data", seed=0, categories=CATEGORIES, image_size=64,
        n_train_good=1, n_test_good=3, n_test_per_defect=1,
    )
    manifest = root / "manifest.parquet"
    index_dataset(root / "data", manifest, dataset="synth_mvtec")
    frame = read_manifest(manifest)
    without_masks = root / "manifest-no-masks.parquet"
    write_manifest(frame.assign(mask_path=None), without_masks, root=frame.attrs["root"], has_masks=False)
    descriptions = root / "descriptions.json"
    write_descriptions(descriptions, resolve_descriptions(CATEGORIES, cache_dir=root / "cache"))
    boxes = write_centre_boxes(frame, root / "boxes.parquet")
    return TinyInputs(manifest, without_masks, descriptions, boxes, write_tiny_checkpoint(root / "model.pt"))


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path, monkeypatch) -> str:
    """Point MLflow at a per-test SQLite store so no test writes mlflow.db into the working tree."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
