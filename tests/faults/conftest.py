"""Fixtures of the fault tests: a tiny indexed dataset with descriptions and boxes, tiny checkpoints, MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from filo.app.demo import save_tiny_checkpoint

from .builders import CATEGORY


@dataclass(frozen=True)
class TinyProject:
    """Paths of a tiny indexed dataset and what the stages need to evaluate and predict on it."""

    data: Path
    manifest: Path
    descriptions: Path
    model: Path


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory) -> TinyProject:
    """One synthetic MVTec-layout category (1 train, 2 good + 1 per defect test images at 64 px), indexed."""
    from filo.data.index import index_dataset
    from filo.data.synthetic import generate_dataset
    from filo.descriptions import resolve_descriptions, write_descriptions

    root = tmp_path_factory.mktemp("faults-project")
    generate_dataset("mvtec", root / "data", seed=0, categories=(CATEGORY,), image_size=64,
                     n_train_good=1, n_test_good=2, n_test_per_defect=1)
    manifest = root / "manifest.parquet"
    index_dataset(root / "data", manifest, dataset="synth_mvtec")
    descriptions = root / "descriptions.json"
    write_descriptions(descriptions, resolve_descriptions([CATEGORY], cache_dir=root / "cache"))
    return TinyProject(root / "data", manifest, descriptions, save_tiny_checkpoint(
        root / "model.pt", train_dataset="synth_visa", trained_categories=["wood_grain"]))


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path, monkeypatch) -> str:
    """Every test logs to its own SQLite MLflow store (the environment for subprocesses, mlflow's global for us)."""
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture(scope="session")
def evaluated(tiny_project, tmp_path_factory) -> Path:
    """`filo evaluate`'s output folder for the tiny project (no MLflow), made once."""
    from filo.evaluation.evaluate import EvaluationSettings, evaluate

    out = tmp_path_factory.mktemp("faults-evaluated") / "results"
    evaluate(tiny_project.model, tiny_project.manifest, tiny_project.descriptions, out,
             settings=EvaluationSettings(experiment=None, gallery_size=0))
    return out
