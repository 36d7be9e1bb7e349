"""Tiny indexed synthetic datasets with descriptions, shared by the training tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from filo.data.index import index_dataset
from filo.data.synthetic import generate_dataset
from filo.descriptions import CategoryDescriptions, write_descriptions
from filo.training import TrainParams

TRAIN_CATEGORY = "round_part"
EVAL_CATEGORY = "trace_board"


@dataclass(frozen=True)
class TinyDataset:
    """Paths of a one-category synthetic dataset, its manifest and its descriptions."""

    root: Path
    manifest: Path
    descriptions: Path
    category: str


def make_dataset(base: Path, layout: str, category: str, name: str) -> TinyDataset:
    """Generate (32 px; 2 good + 1 per defect test images), index and describe one category."""
    root = generate_dataset(layout, base / name, seed=0, categories=[category], image_size=32,
                            n_train_good=1, n_test_good=2, n_test_per_defect=1)
    manifest = base / f"{name}.parquet"
    index_dataset(root, manifest, dataset=name)
    descriptions = base / f"{name}-descriptions.json"
    write_descriptions(descriptions, {category: CategoryDescriptions(("thin scratch",), "user", None)})
    return TinyDataset(root, manifest, descriptions, category)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> TinyDataset:
    """The training set: one MVTec-layout category, 6 test images (2 good, 4 anomalous)."""
    return make_dataset(tmp_path_factory.mktemp("train-data"), "mvtec", TRAIN_CATEGORY, "synth_mvtec")


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory: pytest.TempPathFactory) -> TinyDataset:
    """A VisA-layout dataset with a category disjoint from the training set's."""
    return make_dataset(tmp_path_factory.mktemp("eval-data"), "visa", EVAL_CATEGORY, "synth_visa")


@pytest.fixture
def quick_params() -> TrainParams:
    """Tiny model, one epoch per phase of two batches of 3, mosaics on, no MLflow, no progress bars, CPU."""
    return TrainParams(model_preset="tiny", epochs=1, adapter_epochs=1, batch_size=3, aug_rate=0.5,
                       mlflow=False, progress=False, device="cpu")
