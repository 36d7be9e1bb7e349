"""The demo DVC pipeline end to end in a scratch copy: repro, no-op rerun, what a parameter or code change reaches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import run_command as _run
from conftest import scratch_repository
from mlflow import MlflowClient

DOWNSTREAM_OF_THE_MODEL = {"train_mvtec_to_visa", "train_visa_to_mvtec", "evaluate_mvtec_to_visa",
                           "evaluate_visa_to_mvtec", "register"}


@pytest.fixture(scope="module")
def pipeline_copy(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("dvc-demo")
    return work, scratch_repository(work)


@pytest.mark.slow
def test_demo_pipeline_runs_reruns_nothing_and_tracks_parameters_and_code(pipeline_copy):
    work, env = pipeline_copy
    first = _run(["dvc", "repro"], work, env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]

    for direction, target in (("mvtec_to_visa", "synth_visa"), ("visa_to_mvtec", "synth_mvtec")):
        assert (work / "results" / direction / "verdict.json").is_file()
        summary = json.loads((work / "results" / direction / "metrics.json").read_text())
        assert 0.0 <= summary["pixel_auroc"] <= 1.0, summary
    registration = json.loads((work / "results" / "registration.json").read_text())
    assert set(registration["gate_values"]) == {"synth_mvtec_to_synth_visa", "synth_visa_to_synth_mvtec"}
    champion = MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(registration["name"], "champion")
    assert str(champion.version) == "1"

    _assert_versions_lead_back_to_their_datasets(work)

    second = _run(["dvc", "repro"], work, env)
    assert second.returncode == 0
    assert "Data and pipelines are up to date" in second.stdout

    for command in (["dvc", "metrics", "show"], ["dvc", "plots", "show", "--json"]):
        shown = _run(command, work, env)
        assert shown.returncode == 0 and "WARNING" not in shown.stderr + shown.stdout, shown.stderr
    table = _run(["dvc", "metrics", "show"], work, env).stdout.splitlines()
    assert len(table) == 3 and max(map(len, table)) <= 200, table  # a header and one row per direction

    params = yaml.safe_load((work / "params.yaml").read_text())
    params["evaluate"]["box_lambda"] = 0.5
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    status = _run(["dvc", "status", "--json"], work, env)
    assert set(json.loads(status.stdout)) == {"evaluate_mvtec_to_visa", "evaluate_visa_to_mvtec"}
    params["evaluate"]["box_lambda"] = 0.7
    params["train"].update(num_workers=2, device="cpu", progress=True)  # settings that change no result
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    assert json.loads(_run(["dvc", "status", "--json"], work, env).stdout) == {}

    with (work / "src" / "filo" / "doctor.py").open("a") as handle:
        handle.write("\n# an edit of the preflight\n")
    status = _run(["dvc", "status", "--json"], work, env)
    assert set(json.loads(status.stdout)) == {"preflight"}
    rerun = _run(["dvc", "repro"], work, env)  # the preflight passes again with the same record: nothing else runs
    assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-4000:]
    assert "Running stage 'preflight'" in rerun.stdout and "Running stage 'dataset_mvtec'" not in rerun.stdout
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], work, env).stdout

    with (work / "src" / "filo" / "model" / "maps.py").open("a") as handle:
        handle.write("\n# an edit of the method\n")
    status = _run(["dvc", "status", "--json"], work, env)
    assert set(json.loads(status.stdout)) == DOWNSTREAM_OF_THE_MODEL  # the preflight reads the CLIP preset as data


def _assert_versions_lead_back_to_their_datasets(work: Path) -> None:
    """The registered version names the stage runs that made its inputs; their datasets carry dvc.lock's md5s."""
    import mlflow

    locked = {}
    for stage in yaml.safe_load((work / "dvc.lock").read_text())["stages"].values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            locked[entry["path"]] = entry["md5"]
    client = mlflow.MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    version = client.get_model_version("filo", "1")
    for direction, source, target in (("mvtec_to_visa", "mvtec", "visa"), ("visa_to_mvtec", "visa", "mvtec")):
        training = client.get_run(version.tags[f"run.models/filo_{direction}.pt"])
        datasets = {entry.dataset.name: entry.dataset.digest for entry in training.inputs.dataset_inputs}
        for path in (f"data/manifests/{source}.parquet", f"data/descriptions/{source}.json",
                     f"data/manifests/{target}.parquet"):
            assert datasets[path] == locked[path], path
        assert training.data.params["train.epochs"] == "1"
        assert training.data.tags["code.git_commit"]
        evaluation = client.get_run(version.tags[f"run.results/{direction}/metrics.json"])
        datasets = {entry.dataset.name: entry.dataset.digest for entry in evaluation.inputs.dataset_inputs}
        assert datasets[f"data/boxes/{target}.parquet"] == locked[f"data/boxes/{target}.parquet"]
