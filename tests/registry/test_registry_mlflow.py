"""Registration and promotion against a real local MLflow store (SQLite)."""

import json

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from filo.cli import main
from filo.errors import FiloError
from filo.registry.promotion import CHALLENGER, CHAMPION
from filo.registry.registration import register_bundle
from filo.registry.settings import RegisterSettings

from .conftest import MVTEC_TO_VISA, VISA_TO_MVTEC, make_bundle_inputs


def register(tmp_path, label, *, mvtec_to_visa, visa_to_mvtec, **options):
    inputs = make_bundle_inputs(tmp_path / label, mvtec_to_visa=mvtec_to_visa, visa_to_mvtec=visa_to_mvtec)
    return register_bundle(inputs, RegisterSettings(dvc_lock=tmp_path / "dvc.lock", **options), repo=tmp_path)


def test_champion_moves_on_improvement_and_stays_on_a_regression(mlflow_store, tmp_path):
    client = MlflowClient(mlflow_store)
    first = register(tmp_path, "first", mvtec_to_visa=(0.70, 0.80), visa_to_mvtec=(0.60, 0.70))
    assert (first.version, first.decision.alias, first.decision.reason) == ("1", CHAMPION, "no champion yet")

    better = register(tmp_path, "better", mvtec_to_visa=(0.72, 0.80), visa_to_mvtec=(0.60, 0.70))
    assert better.decision.alias == CHAMPION
    assert better.decision.values[MVTEC_TO_VISA] == pytest.approx(0.76)
    assert better.decision.champion_values == {MVTEC_TO_VISA: pytest.approx(0.75), VISA_TO_MVTEC: pytest.approx(0.65)}
    assert str(client.get_model_version_by_alias("filo", CHAMPION).version) == "2"

    worse = register(tmp_path, "worse", mvtec_to_visa=(0.95, 0.95), visa_to_mvtec=(0.59, 0.70))
    assert worse.decision.alias == CHALLENGER
    assert f"regresses versus champion v2 on {VISA_TO_MVTEC} 0.6450 < 0.6500" in worse.decision.reason
    assert str(client.get_model_version_by_alias("filo", CHAMPION).version) == "2"
    assert str(client.get_model_version_by_alias("filo", CHALLENGER).version) == "3"

    version = client.get_model_version("filo", "3")
    assert version.tags["promotion.decision"] == CHALLENGER
    assert version.tags["promotion.reason"] == worse.decision.reason
    assert version.tags[f"metric.{VISA_TO_MVTEC}.image_auroc"] == repr(0.59)
    assert version.tags["gate.metrics"] == "image_auroc,pixel_auroc"
    assert version.tags[f"verdict.{MVTEC_TO_VISA}.threshold"] == repr(0.4)
    assert version.tags[f"verdict.{MVTEC_TO_VISA}.rule"] == "fpr"
    assert version.tags[f"verdict.{MVTEC_TO_VISA}.target_fpr"] == "0.05"
    assert version.tags[f"verdict.{MVTEC_TO_VISA}.n_good"] == "20"
    assert version.tags[f"input.{(tmp_path / 'worse' / 'm2v' / 'model.pt').as_posix()}"].startswith("sha256:")
    assert "git.commit" not in version.tags  # tmp_path is not a git repository
    run = client.get_run(worse.run_id)
    assert run.data.tags["promotion.decision"] == CHALLENGER
    assert run.data.tags["promotion.reason"] == worse.decision.reason
    assert run.data.metrics[f"gate.{MVTEC_TO_VISA}"] == pytest.approx(0.95)
    assert run.data.params["directions"] == f"{MVTEC_TO_VISA},{VISA_TO_MVTEC}"
    assert run.data.params[f"calibration.{MVTEC_TO_VISA}"] == "FPR <= 5% on 20 good images"


def test_a_single_direction_bundle_is_gated_on_that_direction(mlflow_store, tmp_path):
    register(tmp_path, "both", mvtec_to_visa=(0.7, 0.8), visa_to_mvtec=(0.9, 0.9))
    single = register(tmp_path, "single", mvtec_to_visa=(0.8, 0.8), visa_to_mvtec=None)
    assert single.decision.alias == CHAMPION
    assert single.decision.values == {MVTEC_TO_VISA: pytest.approx(0.8)}


def test_an_undefined_gate_metric_fails_before_anything_is_registered(mlflow_store, tmp_path):
    with pytest.raises(FiloError, match="no defined 'pixel_auroc'"):
        register(tmp_path, "no-masks", mvtec_to_visa=(0.7, None), visa_to_mvtec=None)
    with pytest.raises(MlflowException):
        MlflowClient(mlflow_store).get_registered_model("filo")
    result = register(tmp_path, "image-gate", mvtec_to_visa=(0.7, None), visa_to_mvtec=None,
                      gate_metrics=("image_auroc",))
    assert result.decision.alias == CHAMPION


def test_the_cli_registers_promotes_and_writes_its_result(mlflow_store, tmp_path, capsys):
    files = make_bundle_inputs(tmp_path / "cli", mvtec_to_visa=(0.7, 0.8), visa_to_mvtec=(0.6, 0.7))
    arguments = ["register", "--dvc-lock", str(tmp_path / "none.lock")]
    for direction in files:
        arguments += ["--model", str(direction.checkpoint), "--metrics", str(direction.metrics),
                      "--verdict", str(direction.verdict), "--descriptions", str(direction.descriptions)]
    assert main([*arguments, "--out", str(tmp_path / "registered.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["version"], printed["alias"], printed["model_uri"]) == ("1", CHAMPION, "models:/filo/1")
    record = (tmp_path / "registered.json").read_bytes()
    assert json.loads(record) == {
        "name": "filo",
        "gate_metrics": ["image_auroc", "pixel_auroc"],
        "gate_values": printed["decision"]["values"],
        "inputs": printed["lineage"]["inputs"],
    }

    assert main([*arguments, "--out", str(tmp_path / "again.json")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["version"], again["run_id"]) != (printed["version"], printed["run_id"])
    assert (tmp_path / "again.json").read_bytes() == record  # registry state stays out of the record


def test_the_cli_wants_every_file_once_per_direction(mlflow_store, tmp_path, capsys):
    code = main(["register", "--model", "a.pt", "--model", "b.pt", "--metrics", "m.json", "--verdict", "v.json",
                 "--descriptions", "d.json"])
    assert code == 2
    assert "once per direction" in capsys.readouterr().err
