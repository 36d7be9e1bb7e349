"""Fixtures of the pipeline tests: tiny synthetic inputs, a Prefect test server and a 2-worker Dask cluster."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from filo.stages.boxes import make_tiny
from filo.stages.describe import describe_manifest
from filo.stages.model import init_model

from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE
from filo.data.index import index_dataset
from filo.data.synthetic import generate_dataset

CATEGORIES = ("woven_fabric", "round_part")


@dataclass(frozen=True)
class TinyInputs:
    """A two-category synthetic MVTec-layout dataset, its manifest, descriptions and an untrained tiny FiLo."""

    manifest: Path
    descriptions: Path
    model: Path


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory) -> TinyInputs:
    """64 px images: 2 normal + 1 per defect type test images per category."""
    root = tmp_path_factory.mktemp("pipeline-inputs")
    generate_dataset("mvtec", root / "data", seed=0, categories=CATEGORIES, image_size=64,
                     n_train_good=1, n_test_good=2, n_test_per_defect=1)
    manifest = root / "manifest.parquet"
    index_dataset(root / "data", manifest, dataset="synth_mvtec")
    descriptions = root / "descriptions.json"
    describe_manifest(manifest, descriptions, cache_dir=root / "cache")
    return TinyInputs(manifest, descriptions, init_model("tiny", root / "model.pt", seed=0))


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory) -> tuple[Path, Path]:
    """(config, checkpoint) of the tiny random Grounding DINO (built once: ~10 s)."""
    directory = make_tiny(tmp_path_factory.mktemp("detector") / "tiny", seed=0)
    return directory / CONFIG_FILE, directory / CHECKPOINT_FILE


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[None]:
    """Prefect's test harness: a temporary local server and database (its API URL replaces any configured one).

    Prefect's home is a temporary folder and the server's telemetry is off: nothing leaves the machine.
    """
    from prefect.settings import PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    settings = {PREFECT_HOME: tmp_path_factory.mktemp("prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED: False}
    with temporary_settings(updates=settings), prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def dask_address() -> Iterator[str]:
    """A local Dask cluster of 2 worker processes, as a pipeline run starts it.

    Not thread workers: loading a Grounding DINO in two threads at once breaks transformers'
    (process-global) meta-device initialization.
    """
    from filo.pipelines.runner import dask_cluster

    with dask_cluster(workers=2, processes=True) as address:
        yield address


@pytest.fixture(autouse=True)
def isolated_mlflow(tmp_path, monkeypatch) -> None:
    """Keep MLflow runs of a test in its own store, out of the working tree."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
