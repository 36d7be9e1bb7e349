"""filo's layers: which package may import which, read from the source (function-level imports included).

The table below is the design: a package imports only the packages listed for it. The
pipeline's upstream stages (data, describe, boxes) must reach no model code, so that a change
under ``src/filo/model/`` invalidates only the train/evaluate/register stages in DVC.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from import_graph import closure, find_cycle, import_graph, module_files, package_graph

BASE = {"filo", "filo.errors"}
"""What every package may import: the (empty) root package and the user-error type."""

ALLOWED: dict[str, set[str]] = {
    "filo": set(),
    "filo.errors": set(),
    "filo.vocabulary": BASE,
    "filo.io": BASE,
    "filo.device": BASE,
    "filo.metrics": BASE,
    "filo.tracking": BASE | {"filo.io"},
    "filo.data": BASE | {"filo.io"},
    "filo.descriptions": BASE | {"filo.io", "filo.vocabulary"},
    "filo.boxes": BASE | {"filo.io", "filo.device", "filo.vocabulary", "filo.data", "filo.descriptions"},
    "filo.model": BASE | {"filo.io", "filo.vocabulary"},
    "filo.training": BASE | {"filo.io", "filo.device", "filo.tracking", "filo.data", "filo.descriptions",
                             "filo.model"},
    "filo.evaluation": BASE | {"filo.io", "filo.device", "filo.tracking", "filo.metrics", "filo.data",
                               "filo.descriptions", "filo.boxes", "filo.model"},
    "filo.prediction": BASE | {"filo.io", "filo.device", "filo.vocabulary", "filo.data", "filo.descriptions",
                               "filo.boxes", "filo.model"},
    "filo.registry": BASE | {"filo.io", "filo.device", "filo.tracking", "filo.descriptions", "filo.boxes",
                             "filo.evaluation", "filo.prediction", "filo.model"},
    "filo.stages": None,  # the CLI modules: any package (their reach is limited below where it matters)
    "filo.cli": BASE | {"filo.stages"},
}
"""Package -> the filo packages it may import (None: any)."""

MODEL_SIDE = ("filo.model", "filo.training", "filo.evaluation", "filo.prediction", "filo.registry")
"""Packages that hold or run the model: upstream stages must not reach them."""

UPSTREAM_ROOTS = {
    "filo.data": "the data package",
    "filo.descriptions": "the descriptions package",
    "filo.boxes": "the boxes package",
    "filo.stages.data": "the data stage",
    "filo.stages.describe": "the describe stage",
    "filo.stages.boxes": "the boxes stage",
}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_package_is_in_the_layer_table(graph) -> None:
    packages = set(package_graph(graph))
    assert packages - set(ALLOWED) == set(), "add the new package to ALLOWED with the packages it may import"
    assert set(ALLOWED) - packages == set(), "a package in ALLOWED no longer exists; drop it from the table"


def test_packages_import_only_what_their_layer_allows(graph) -> None:
    violations = [
        f"{package} -> {target} ({', '.join(sorted(edges))})"
        for package, targets in sorted(package_graph(graph).items())
        if ALLOWED[package] is not None
        for target, edges in sorted(targets.items())
        if target not in ALLOWED[package]
    ]
    assert violations == []


def test_the_layer_table_has_no_cycle() -> None:
    assert find_cycle({package: allowed or set() for package, allowed in ALLOWED.items()}) is None


def test_filo_packages_import_each_other_without_a_cycle(graph) -> None:
    edges = {package: set(targets) for package, targets in package_graph(graph).items()}
    assert find_cycle(edges) is None


@pytest.mark.parametrize("root", sorted(UPSTREAM_ROOTS))
def test_upstream_stages_reach_no_model_code(graph, root: str) -> None:
    modules = [module for module in graph if module == root or module.startswith(root + ".")]
    assert modules, f"{root} ({UPSTREAM_ROOTS[root]}) was not found in the source tree"
    reached = sorted(module for module in closure(modules, graph) if module.startswith(MODEL_SIDE))
    assert reached == []


def test_the_closure_follows_imports_inside_functions_and_parent_packages(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    (package / "low" / "leaf.py").write_text("VALUE = 1\n")
    (package / "top.py").write_text("def run():\n    from pkg.low.leaf import VALUE\n    return VALUE\n")
    (package / "other.py").write_text("import json\n")
    graph = import_graph(module_files({"pkg": package}))
    assert graph["pkg.top"] == {"pkg", "pkg.low", "pkg.low.leaf"}
    assert closure(["pkg.top"], graph) == {"pkg", "pkg.top", "pkg.low", "pkg.low.leaf"}
    assert closure(["pkg.other"], graph) == {"pkg", "pkg.other"}


def test_find_cycle_names_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
