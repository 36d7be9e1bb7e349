"""Each package's `__all__` is its public surface: every name resolves, none is shadowed by a submodule."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from filo.pipelines.imports import SOURCE_ROOT

PACKAGES = sorted(f"filo.{path.parent.name}" for path in SOURCE_ROOT.glob("*/__init__.py"))


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_lists_its_public_names_and_each_resolves(name):
    package = importlib.import_module(name)
    public = getattr(package, "__all__", None)
    assert public, f"{name} has no __all__"
    submodules = {module.name for module in pkgutil.iter_modules(package.__path__)}
    assert sorted(set(public) & submodules) == [], "a name that is also a submodule changes meaning once it is imported"
    assert [attribute for attribute in public if not hasattr(package, attribute)] == []
