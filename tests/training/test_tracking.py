"""MLflow: the shared helpers of filo.tracking and what a training run logs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import pytest

from filo import tracking
from filo.io import sha256_file
from filo.training import train


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A throwaway SQLite tracking store selected through MLFLOW_TRACKING_URI."""
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(tracking.TRACKING_URI_ENV, f"sqlite:///{folder}/mlflow.db")
        yield folder


def test_tracking_uri_comes_from_the_environment_else_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, "sqlite:////somewhere/runs.db")
    assert tracking.tracking_uri() == "sqlite:////somewhere/runs.db"
    monkeypatch.delenv(tracking.TRACKING_URI_ENV)
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"


def test_flatten_params_nests_with_dots():
    assert tracking.flatten_params({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": "1", "a.c.d": "[1, 2]", "e": "None"}


def test_runs_keep_artifacts_next_to_the_store_and_can_be_reopened(store, tmp_path):
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    with tracking.start_run("helpers", "first", {"kind": "test"}) as run:
        digest = tracking.log_file_artifact(artifact)
    with tracking.start_run("helpers", "ignored", run_id=run.info.run_id) as reopened:
        mlflow.log_metric("later", 1.0)
    assert reopened.info.run_id == run.info.run_id
    client = mlflow.MlflowClient(tracking.tracking_uri())
    logged = client.get_run(run.info.run_id)
    assert logged.data.tags["kind"] == "test"
    assert logged.data.tags["sha256.notes.txt"] == digest == sha256_file(artifact)
    assert logged.data.metrics["later"] == 1.0
    assert logged.info.status == "FINISHED"
    assert Path(logged.info.artifact_uri.removeprefix("file://")).is_relative_to(store)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["notes.txt"]


def test_a_training_run_logs_params_losses_rates_hashes_and_the_checkpoint(store, tiny_data, tmp_path,
                                                                         quick_params):
    params = dataclasses.replace(quick_params, mlflow=True, experiment="training-test")
    result = train(tiny_data.manifest, tiny_data.descriptions, tmp_path / "filo.pt", params)
    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["train.seed"] == "0"
    assert run.data.params["train.aug_rate"] == "0.5"
    assert run.data.params["model.clip_name"] == "filo-tiny"
    history = {(r["phase"], r["epoch"]): r["loss"] for r in result.history}
    for phase in ("prompt", "adapter"):
        logged = client.get_metric_history(run.info.run_id, f"{phase}/loss")
        assert [(m.step, m.value) for m in logged] == [(1, pytest.approx(history[(phase, 1)]))]
        seconds = client.get_metric_history(run.info.run_id, f"{phase}/epoch_seconds")
        assert [m.step for m in seconds] == [1] and 0 < seconds[0].value < result.train_s
    assert run.data.metrics["prompt/lr/prompt"] == pytest.approx(1e-3)
    assert run.data.metrics["prompt/lr/heads"] == pytest.approx(1e-4)
    assert run.data.metrics["adapter/lr/adapter"] == pytest.approx(1e-5)
    assert run.data.tags["manifest_sha256"] == sha256_file(tiny_data.manifest)
    assert run.data.tags["descriptions_sha256"] == sha256_file(tiny_data.descriptions)
    assert run.data.tags["sha256.filo.pt"] == sha256_file(result.checkpoint)
    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == ["model/filo.pt"]
