"""Fixtures of the pipeline tests: tiny synthetic inputs, a scratch DVC repository, a Prefect test server, Dask."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from filo.boxes.stage import prepare_detector
from filo.data.index import index_dataset
from filo.data.synthetic import generate_dataset
from filo.descriptions.stage import DescribeSettings, describe_manifest
from filo.model.checkpoint import write_initial_checkpoint

CATEGORIES = ("woven_fabric", "round_part")
REPO = Path(__file__).resolve().parents[2]

# The demo profile, shrunk so the whole DAG runs in a couple of minutes.
SMALL_PARAMS = {
    "data": {"image_size": 64, "n_train_good": 2, "n_test_good": 2, "n_test_per_defect": 1},
    "boxes": {"rules": {"image_size": 64, "rule": "authors"}},
    "train": {"epochs": 1, "adapter_epochs": 1, "batch_size": 4},
}


def run_command(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command (dvc, git) in `cwd`, capturing its output."""
    return subprocess.run(args, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def shrunk_params() -> dict:
    """The demo's params.yaml with SMALL_PARAMS on top."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in SMALL_PARAMS.items():
        params[section].update(values)
    return params


def scratch_repository(work: Path) -> dict[str, str]:
    """A fresh git + DVC repository at `work` with the project's dvc.yaml, code and shrunk params; returns its env.

    The code is copied so that a test may edit it: DVC hashes the copy, filo runs from the install.
    """
    shutil.copy(REPO / "dvc.yaml", work / "dvc.yaml")
    for folder in ("src", "stages"):
        shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (work / "params.yaml").write_text(yaml.safe_dump(shrunk_params()))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
    }
    (work / ".gitignore").write_text("mlflow.db\nmlartifacts/\n__pycache__/\n")
    git = ["git", "-c", "user.name=filo tests", "-c", "user.email=tests@filo.invalid"]
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"],
                    ["git", "add", "-A"], [*git, "commit", "-q", "-m", "scratch pipeline"]):
        assert run_command(command, work, env).returncode == 0, command
    return env


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
    describe_manifest(manifest, descriptions, DescribeSettings(cache_dir=root / "cache"))
    return TinyInputs(manifest, descriptions, write_initial_checkpoint("tiny", root / "model.pt", seed=0))


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory) -> Path:
    """The detector folder of the tiny random Grounding DINO (built once: ~10 s)."""
    return prepare_detector(tmp_path_factory.mktemp("detector") / "tiny")


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
