"""filo's layers: which package may import which, read from the source (function-level imports included).

The table below is the design: a package imports only the packages listed for it. That the
pipeline's upstream stages reach no model code is checked stage by stage in
tests/pipelines/test_dag.py (a change under ``src/filo/model/`` must invalidate only the
train/evaluate/register stages in DVC).
"""

from __future__ import annotations

import pytest
from filo.pipelines.imports import direct_imports, find_cycle, package_graph

BASE = {"filo", "filo.errors"}
"""What every package may import: the (empty) root package and the user-error type."""

ALLOWED: dict[str, set[str]] = {
    "filo": {"filo.kernels"},  # the package root pins the CPU code paths at import (see filo.kernels)
    "filo.errors": set(),
    "filo.vocabulary": BASE,
    "filo.io": BASE,
    "filo.device": BASE,
    "filo.kernels": set(),
    "filo.reproducibility": BASE | {"filo.kernels"},
    "filo.integrity": BASE,  # imported by the package root itself: it may import nothing of filo
    "filo.metrics": BASE,
    "filo.tracking": BASE | {"filo.io"},
    "filo.settings": BASE,
    "filo.stagespec": BASE | {"filo.settings", "filo.tracking"},  # a stage's one declaration; records its runs
    "filo.preflight": BASE | {"filo.settings"},  # what a check is; each package's preflight module uses it
    "filo.data": BASE | {"filo.io", "filo.settings", "filo.preflight", "filo.stagespec"},  # the dataset registry is read from params.yaml
    "filo.descriptions": BASE | {"filo.io", "filo.vocabulary", "filo.data", "filo.preflight", "filo.stagespec"},
    "filo.boxes": BASE | {"filo.io", "filo.device", "filo.kernels", "filo.vocabulary", "filo.data", "filo.descriptions",
                          "filo.preflight", "filo.settings", "filo.stagespec"},
    "filo.presets": BASE,  # the model presets as data files
    "filo.clip": BASE | {"filo.preflight", "filo.presets"},  # open_clip weights: tags, local checkpoints, and their preflight check
    "filo.model": BASE | {"filo.io", "filo.integrity", "filo.vocabulary", "filo.clip", "filo.presets",
                          "filo.settings"},  # FiLoConfig's Literal fields are checked by the settings convention
    "filo.training": BASE | {"filo.io", "filo.integrity", "filo.device", "filo.kernels", "filo.tracking", "filo.data",
                             "filo.descriptions", "filo.model", "filo.settings", "filo.stagespec"},
    "filo.evaluation": BASE | {"filo.io", "filo.device", "filo.kernels", "filo.tracking", "filo.metrics", "filo.settings",
                               "filo.vocabulary",  # a verdict names its category by the shared rule
                               "filo.data", "filo.descriptions", "filo.boxes", "filo.model", "filo.stagespec"},
    "filo.prediction": BASE | {"filo.io", "filo.integrity", "filo.device", "filo.kernels", "filo.vocabulary", "filo.data",
                               "filo.descriptions", "filo.boxes", "filo.model",
                               "filo.evaluation"},  # the verdict and its calibration
    "filo.export": BASE | {"filo.io", "filo.vocabulary", "filo.descriptions", "filo.boxes", "filo.model",
                           "filo.evaluation", "filo.prediction"},  # runs behind the predictor's model interface
    "filo.registry": BASE | {"filo.io", "filo.vocabulary", "filo.device", "filo.tracking", "filo.data", "filo.metrics",
                             "filo.descriptions", "filo.boxes", "filo.evaluation", "filo.prediction", "filo.model",
                             "filo.export", "filo.stagespec"},
    "filo.app": BASE | {"filo.io", "filo.settings", "filo.tracking", "filo.data", "filo.descriptions", "filo.evaluation",
                        "filo.prediction", "filo.registry",
                        "filo.export",  # --runtime onnx|openvino serves exports
                        "filo.model"},  # app.demo: the tiny champion the app tests and the serving benchmark use
    # only the packages' checks: a code edit in filo/model or filo/training must not rerun the preflight stage
    "filo.doctor": BASE | {"filo.io", "filo.preflight", "filo.data", "filo.descriptions", "filo.boxes", "filo.clip"},
    "filo.rehearsal": BASE | {"filo.io", "filo.data", "filo.boxes", "filo.model"},
    "filo.stages": None,  # the CLI modules: any package (their reach per stage is checked in test_dag.py)
    "filo.cli": BASE | {"filo.io", "filo.stages", "filo.settings", "filo.stagespec"},
    "filo.pipelines": None,  # the DAG and the Prefect flows: they drive everything
}
"""Package -> the filo packages it may import (None: any)."""

@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, set[str]]]:
    return package_graph()


def test_every_package_is_in_the_layer_table(graph) -> None:
    packages = set(graph)
    assert packages - set(ALLOWED) == set(), "add the new package to ALLOWED with the packages it may import"
    assert set(ALLOWED) - packages == set(), "a package in ALLOWED no longer exists; drop it from the table"


def test_packages_import_only_what_their_layer_allows(graph) -> None:
    violations = [
        f"{package} -> {target} ({', '.join(sorted(edges))})"
        for package, targets in sorted(graph.items())
        if ALLOWED[package] is not None
        for target, edges in sorted(targets.items())
        if target not in ALLOWED[package]
    ]
    assert violations == []


def test_the_layer_table_has_no_cycle() -> None:
    assert find_cycle({package: allowed or set() for package, allowed in ALLOWED.items()}) is None


def test_filo_packages_import_each_other_without_a_cycle(graph) -> None:
    edges = {package: set(targets) for package, targets in graph.items()}
    assert find_cycle(edges) is None


def test_imports_inside_functions_and_parent_packages_are_found() -> None:
    found = direct_imports("filo.cli")
    assert "filo.stagespec" in found  # imported inside run_parsed only
    assert {"filo.stages", "filo.errors"} <= found
    assert "filo.training" in direct_imports("filo.stages.train")  # parent package of filo.training.params


def test_find_cycle_names_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
