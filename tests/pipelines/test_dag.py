"""The pipeline's one DAG definition: each profile's dvc.yaml is generated from it and the profile's dataset registry,
params are tracked key by key, code deps are complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from filo.pipelines.dag import PROFILES as PROFILE_FOLDERS
from filo.pipelines.dag import dvc_yaml_text, pipeline_stages
from filo.pipelines.imports import module_closure, repository_paths

from filo.cli import build_parser
from filo.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
PROFILES = {"demo": REPO, "paper": REPO / "profiles" / "paper"}
DEMO_STAGES = pipeline_stages(REPO / "params.yaml")
UPSTREAM_COMMANDS = {("data", "prepare"), ("data", "index"), ("describe",), ("boxes-detector",), ("boxes",)}


@pytest.mark.parametrize("profile", PROFILE_FOLDERS)
def test_each_profiles_committed_dvc_yaml_is_the_generated_one(profile):
    folder = REPO / profile
    assert (folder / "dvc.yaml").read_text(encoding="utf-8") == dvc_yaml_text(folder / "params.yaml"), (
        f"{folder / 'dvc.yaml'} is stale: run `python -m filo.pipelines.dag --write`")
    assert profile == "." or (folder / ".dvc" / "config").is_file(), f"{profile} must be a DVC subrepo (dvc init --subdir)"


def test_a_dataset_added_in_params_gets_its_stages(tmp_path):
    """A third dataset is an entry in params.yaml: its dataset, index, describe and boxes stages, and its directions."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["datasets"]["line3"] = {"name": "my_line", "layout": "mvtec", "source": "local", "path": "/srv/line3"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    stages = yaml.safe_load(dvc_yaml_text(tmp_path / "params.yaml"))["stages"]
    assert {"index_line3", "describe_line3", "boxes_line3", "train_line3_to_mvtec", "train_visa_to_line3",
            "evaluate_mvtec_to_line3"} <= set(stages)
    assert "dataset_line3" not in stages  # a local folder is indexed in place: nothing is copied
    assert stages["index_line3"]["cmd"].endswith("--dataset line3 --root /srv/line3 --out data/manifests/line3.parquet")
    assert "/srv/line3" in stages["index_line3"]["deps"] and "datasets.line3" in stages["index_line3"]["params"]
    assert stages["index_mvtec"] == yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["index_mvtec"]


def test_targets_are_evaluated_by_every_direction_and_not_trained_on(tmp_path):
    stages = {stage.name for stage in pipeline_stages(REPO / "profiles" / "custom" / "params.yaml")}
    assert {"evaluate_mvtec_to_visa_on_product", "evaluate_visa_to_mvtec_on_product", "boxes_product"} <= stages
    assert not any(name.startswith("train_") and "product" in name for name in stages)


def test_settings_that_do_not_change_results_are_not_dvc_params():
    """train.num_workers / device / progress and the MLflow names rerun nothing; the rest is tracked key by key."""
    document = yaml.safe_load((REPO / "profiles" / "paper" / "dvc.yaml").read_text())["stages"]
    train = document["train_mvtec_to_visa"]["params"]
    assert {"train.epochs", "train.batch_size", "train.model_preset", "train.amp"} <= set(train)
    assert not {"train", "train.num_workers", "train.device", "train.progress", "train.mlflow",
                "train.experiment"} & set(train)
    assert not {"evaluate.experiment", "evaluate.device", "evaluate.num_workers"} & set(
        document["evaluate_mvtec_to_visa"]["params"])


def test_a_runtime_setting_leaves_dvc_status_clean_and_a_result_setting_does_not(tmp_path):
    """DVC's own verdict: the train stage recorded (dvc commit), then train.num_workers edited, then train.epochs."""
    import json
    import subprocess
    import sys

    from filo.pipelines.dag import dvc_yaml_text as generate

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["code_root"] = str(REPO)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text(generate(tmp_path / "params.yaml"))
    stage = "train_mvtec_to_visa"
    for path in ("data/manifests/mvtec.parquet", "data/descriptions/mvtec.json", "data/manifests/visa.parquet",
                 "models/filo_mvtec_to_visa.pt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    dvc = [str(Path(sys.executable).parent / "dvc")]

    def run(*args: str) -> str:
        done = subprocess.run([*dvc, *args], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("init", "--no-scm", "-q")
    run("commit", "-f", "-q", stage)

    def changed() -> bool:
        return stage in json.loads(run("status", "--json", stage) or "{}")

    assert not changed()
    for key, value in (("num_workers", 8), ("device", "cpu"), ("progress", True), ("experiment", "elsewhere")):
        params["train"][key] = value
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        assert not changed(), f"editing train.{key} would retrain"
    params["train"]["epochs"] += 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert changed()


def test_both_profiles_have_the_same_stages_deps_and_outs():
    """DVC's own view of each profile: same stage names, commands, deps and outs relative to the profile folder."""
    from dvc.repo import Repo

    views = {}
    for name, folder in PROFILES.items():
        with Repo(str(folder)) as repo:
            views[name] = {
                stage.name: (stage.cmd,
                             sorted(str(Path(os.path.relpath(dep.fs_path, folder))) for dep in stage.deps
                                    if not str(dep.fs_path).startswith(str(REPO / "src"))
                                    and not str(dep.fs_path).startswith(str(REPO / "stages"))),
                             sorted(str(Path(os.path.relpath(dep.fs_path, REPO))) for dep in stage.deps
                                    if str(dep.fs_path).startswith((str(REPO / "src"), str(REPO / "stages")))),
                             sorted(str(Path(os.path.relpath(out.fs_path, folder))) for out in stage.outs))
                for stage in repo.index.stages
            }
    assert views["demo"] == views["paper"]
    assert set(views["demo"]) == {stage.name for stage in DEMO_STAGES}


@pytest.mark.parametrize("stage", DEMO_STAGES, ids=lambda stage: stage.name)
def test_each_stage_lists_the_code_it_imports(stage):
    document = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    deps = {dep.replace("${code_root}/", "") for dep in document["stages"][stage.name]["deps"]}
    needed = set(repository_paths(module_closure(["filo.cli", stage.module])))
    assert needed <= deps, f"dvc.yaml misses code deps of {stage.name}: {sorted(needed - deps)}"


@pytest.mark.parametrize("stage", DEMO_STAGES, ids=lambda stage: stage.name)
def test_each_stage_command_parses_and_its_sections_load_in_both_profiles(stage):
    args = build_parser().parse_args(stage.argv())
    assert args.stage_spec is stage.spec and args.func == stage.spec.run
    for folder in (*PROFILES.values(), REPO / "profiles" / "custom"):
        for cls in stage.tracked_settings:
            load_settings(cls, folder / "params.yaml")  # strict: an unknown key fails


@pytest.mark.parametrize("stage", [s for s in DEMO_STAGES if s.command in UPSTREAM_COMMANDS],
                         ids=lambda stage: stage.name)
def test_upstream_stages_do_not_depend_on_the_model(stage):
    """Editing src/filo/model must invalidate only train, evaluate and register."""
    code = set(repository_paths(module_closure(["filo.cli", stage.module])))
    assert not code & {"src/filo/model", "src/filo/training", "src/filo/evaluation", "src/filo/registry"}
