"""`filo evaluate` logs metrics, provenance tags and every output file to MLflow; a crash marks the run FAILED.

Slow: creating an MLflow SQLite store takes tens of seconds on a loaded CPU, so one store
serves the whole module.
"""

from __future__ import annotations

import json

import mlflow
import pytest
from evaluation_helpers import write_tiny_checkpoint

from filo.evaluation import outputs
from filo.evaluation.evaluate import evaluate
from filo.evaluation.settings import EvaluationSettings
from filo.io import sha256_file

pytestmark = pytest.mark.slow
EXPERIMENT = "filo-evaluation-test"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture(scope="module")
def logged(tiny_inputs, tracking_uri, tmp_path_factory):
    """One evaluation logged to MLflow: (result, out_dir, mlflow run, checkpoint path)."""
    root = tmp_path_factory.mktemp("logged")
    model = write_tiny_checkpoint(root / "model.pt", trained_categories=["capsule_blob"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        result = evaluate(model, tiny_inputs.manifest, tiny_inputs.descriptions, root / "out",
                          settings=EvaluationSettings(gallery_size=1, experiment=EXPERIMENT))
    run = mlflow.MlflowClient(tracking_uri).get_run(result.run_id)
    return result, root / "out", run, model


def test_run_holds_metrics_params_and_provenance(logged, tiny_inputs):
    result, out_dir, run, model = logged
    assert run.info.status == "FINISHED"
    document = json.loads((out_dir / "metrics_detail.json").read_text())
    assert run.data.metrics["image_auroc"] == pytest.approx(document["mean"]["image_auroc"])
    assert run.data.metrics["per_category/round_part/pixel_aupro"] == pytest.approx(
        document["per_category"]["round_part"]["pixel_aupro"]
    )
    assert run.data.metrics["verdict/threshold"] == pytest.approx(result.verdict.threshold)
    assert run.data.tags["model.sha256"] == sha256_file(model)
    assert run.data.tags["manifest.sha256"] == sha256_file(tiny_inputs.manifest)
    assert run.data.tags["model.provenance.train_dataset"] == "synth_mvtec"
    assert run.data.tags["model.provenance.trained_categories"] == "['capsule_blob']"
    assert run.data.tags["filo.stage"] == "evaluate"
    assert run.data.params["threshold_rule"] == "f1"
    assert run.data.params["model.clip_name"] == "filo-tiny"


def test_every_output_file_is_an_artifact_with_its_hash(logged, tracking_uri):
    _, out_dir, run, _ = logged
    client = mlflow.MlflowClient(tracking_uri)
    logged_files = {item.path for item in client.list_artifacts(run.info.run_id, "evaluation")}
    logged_files |= {item.path for item in client.list_artifacts(run.info.run_id, "evaluation/plots")}
    expected = {f"evaluation/{path.relative_to(out_dir).as_posix()}" for path in out_dir.rglob("*")}
    assert logged_files == expected
    assert run.data.tags["sha256.metrics.json"] == sha256_file(out_dir / "metrics.json")
    assert run.data.tags["sha256.scores.parquet"] == sha256_file(out_dir / "scores.parquet")


def test_a_crash_marks_the_run_failed_and_writes_nothing(tiny_inputs, tracking_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)

    def broken_histograms(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(outputs, "plot_score_histograms", broken_histograms)
    with pytest.raises(RuntimeError, match="out of memory"):
        evaluate(tiny_inputs.model, tiny_inputs.manifest, tiny_inputs.descriptions, tmp_path / "out",
                 settings=EvaluationSettings(experiment=EXPERIMENT))
    assert not (tmp_path / "out").exists()
    runs = mlflow.MlflowClient(tracking_uri).search_runs(
        [mlflow.MlflowClient(tracking_uri).get_experiment_by_name(EXPERIMENT).experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert runs[0].info.status == "FAILED"
