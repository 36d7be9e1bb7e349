"""The pipeline's one DAG definition: dvc.yaml is generated from it, both profiles share it, code deps are complete."""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path

import pytest
import yaml
from filo.pipelines.dag import dvc_yaml_text, pipeline_stages
from filo.pipelines.imports import module_closure, repository_paths

from filo.cli import build_parser
from filo.doctor import checked_settings
from filo.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
PROFILES = {"demo": REPO, "paper": REPO / "profiles" / "paper"}
UPSTREAM_COMMANDS = {("data", "prepare"), ("data", "index"), ("describe",), ("boxes-detector",), ("boxes",)}


def _settings_classes(module_name: str) -> list[type]:
    """The settings dataclasses (those with a SECTION) a stage's CLI module uses."""
    module = importlib.import_module(module_name)
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and dataclasses.is_dataclass(value) and hasattr(value, "SECTION")]
    if module_name == "filo.stages.doctor":  # the preflight checks the inputs the other stages' sections name
        classes += checked_settings()
    return classes


def test_the_committed_dvc_yaml_is_the_generated_one():
    assert (REPO / "dvc.yaml").read_text(encoding="utf-8") == dvc_yaml_text(), (
        "dvc.yaml is stale: run `python -m filo.pipelines.dag --write`")


def test_the_paper_profile_runs_the_same_file():
    link = PROFILES["paper"] / "dvc.yaml"
    assert link.is_symlink() and os.readlink(link) == "../../dvc.yaml"
    assert (PROFILES["paper"] / ".dvc" / "config").is_file(), "profiles/paper must be a DVC subrepo (dvc init --subdir)"


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
    assert set(views["demo"]) == {stage.name for stage in pipeline_stages()}


@pytest.mark.parametrize("stage", pipeline_stages(), ids=lambda stage: stage.name)
def test_each_stage_lists_the_code_it_imports(stage):
    document = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    deps = {dep.replace("${code_root}/", "") for dep in document["stages"][stage.name]["deps"]}
    needed = set(repository_paths(module_closure(["filo.cli", stage.module])))
    assert needed <= deps, f"dvc.yaml misses code deps of {stage.name}: {sorted(needed - deps)}"


@pytest.mark.parametrize("stage", pipeline_stages(), ids=lambda stage: stage.name)
def test_each_stage_command_parses_and_its_sections_load_in_both_profiles(stage):
    args = build_parser().parse_args(stage.argv())
    assert callable(args.func)
    classes = {cls.SECTION: cls for cls in _settings_classes(stage.module)}
    assert set(stage.sections) <= set(classes), f"{stage.name} declares sections its CLI does not read"
    for folder in PROFILES.values():
        for section in stage.sections:
            load_settings(classes[section], folder / "params.yaml")  # strict: an unknown key fails


@pytest.mark.parametrize("stage", [s for s in pipeline_stages() if s.command in UPSTREAM_COMMANDS],
                         ids=lambda stage: stage.name)
def test_upstream_stages_do_not_depend_on_the_model(stage):
    """Editing src/filo/model must invalidate only train, evaluate and register."""
    code = set(repository_paths(module_closure(["filo.cli", stage.module])))
    assert not code & {"src/filo/model", "src/filo/training", "src/filo/evaluation", "src/filo/registry"}
