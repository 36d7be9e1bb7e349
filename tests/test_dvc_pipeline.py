"""The demo DVC pipeline end to end in a scratch copy: repro, no-op rerun, a parameter change's reach."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

REPO = Path(__file__).resolve().parents[1]

# The demo profile, shrunk so the whole DAG runs in a couple of minutes.
SMALL_PARAMS = {
    "synth": {"image_size": 64, "n_train_good": 2, "n_test_good": 2, "n_test_per_defect": 1},
    "boxes": {"image_size": 64},
    "train": {"epochs": 1, "adapter_epochs": 1, "batch_size": 4},
}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def pipeline_copy(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh git + DVC repository holding the project's dvc.yaml and a shrunk params.yaml."""
    work = tmp_path_factory.mktemp("dvc-demo")
    shutil.copy(REPO / "dvc.yaml", work / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in SMALL_PARAMS.items():
        params[section].update(values)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
    }
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"]):
        assert _run(command, work, env).returncode == 0, command
    return work, env


@pytest.mark.slow
def test_demo_pipeline_runs_reruns_nothing_and_tracks_parameters(pipeline_copy):
    work, env = pipeline_copy
    first = _run(["dvc", "repro"], work, env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]

    for direction, target in (("mvtec_to_visa", "synth_visa"), ("visa_to_mvtec", "synth_mvtec")):
        metrics = json.loads((work / "results" / direction / "metrics.json").read_text())
        assert metrics["dataset"] == target
        assert 0.0 <= metrics["pixel_auroc"] <= 1.0
        assert (work / "results" / direction / "verdict.json").is_file()
    registration = json.loads((work / "results" / "registration.json").read_text())
    assert set(registration["gate_values"]) == {"synth_mvtec_to_synth_visa", "synth_visa_to_synth_mvtec"}
    champion = MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(registration["name"], "champion")
    assert str(champion.version) == "1"

    second = _run(["dvc", "repro"], work, env)
    assert second.returncode == 0
    assert "Data and pipelines are up to date" in second.stdout

    params = yaml.safe_load((work / "params.yaml").read_text())
    params["evaluate"]["box_lambda"] = 0.5
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    status = _run(["dvc", "status", "--json"], work, env)
    assert status.returncode == 0
    assert set(json.loads(status.stdout)) == {"evaluate@mvtec_to_visa", "evaluate@visa_to_mvtec"}
