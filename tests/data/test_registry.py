"""The dataset registry of a profile: entries, names apart from layouts, directions, targets, and rejected entries."""

from __future__ import annotations

import pytest
import yaml

from filo.data.registry import DatasetRegistry, load_registry, registry_from_params
from filo.errors import FiloError

DEMO = {"datasets": {"mvtec": {"name": "synth_mvtec", "layout": "mvtec", "source": "synthetic"},
                     "visa": {"name": "synth_visa", "layout": "visa", "source": "synthetic"},
                     "product": {"layout": "folder", "source": "local", "path": "/srv/line3",
                                 "categories": ["gear_wheel"]}},
        "targets": ["product"]}


def test_keys_name_artifacts_and_names_find_their_manifest():
    registry = registry_from_params(DEMO)
    assert registry.name("visa") == "synth_visa" and registry.name("product") == "product"
    assert registry.manifest("visa") == "data/manifests/visa.parquet"
    assert registry.manifest_of("synth_visa") == "data/manifests/visa.parquet"
    assert registry.manifest_of("visa") is None  # a layout is not a dataset name
    assert registry.dataset_dir("product") == "/srv/line3" and registry.dataset_dir("mvtec") == "data/datasets/mvtec"


def test_directions_pair_the_training_datasets_and_targets_are_only_evaluated():
    registry = registry_from_params(DEMO)
    assert registry.training == ("mvtec", "visa")
    assert registry.directions == (("mvtec", "visa"), ("visa", "mvtec"))
    assert registry.evaluated == ("mvtec", "visa", "product")


def test_a_params_file_without_datasets_is_the_papers_two_downloads(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"epochs": 1}}))
    registry = load_registry(tmp_path / "params.yaml")
    assert registry == DatasetRegistry()
    assert {key: (spec.layout, spec.source) for key, spec in registry.datasets.items()} == {
        "mvtec": ("mvtec", "download"), "visa": ("visa", "download")}


@pytest.mark.parametrize(("change", "message"), [
    ({"datasets": {"Line/3": {"layout": "folder", "source": "local", "path": "x"}}}, "dataset key 'Line/3'"),
    ({"datasets": {"l" * 300: {"layout": "folder", "source": "local", "path": "x"}}}, "at most 64"),
    ({"targets": ["nowhere"]}, r"names \['nowhere'\], which are not in"),
    ({"datasets": {"line": {"layout": "folder", "source": "local"}}}, "a local source needs `path: FOLDER`"),
    ({"datasets": {"line": {"layout": "folder", "source": "synthetic", "categories": ["a"]}}}, "needs `renderer:`"),
    ({"datasets": {"line": {"layout": "mvtec", "source": "synthetic", "url": "http://x"}}}, "for a download source"),
    ({"datasets": {"line": {"layout": "folder", "source": "download"}}}, "needs its `url` and `sha256`"),
    ({"datasets": {"line": {"layout": "png", "source": "local", "path": "x"}}}, "layout must be one of"),
    ({"datasets": {"line": {"layout": "mvtec", "source": "local", "path": "x", "colour": 1}}}, r"unknown key\(s\)"),
    ({"datasets": {"a": {"layout": "mvtec", "source": "synthetic", "name": "same"},
                   "b": {"layout": "visa", "source": "synthetic", "name": "same"}}}, "share the name 'same'"),
])
def test_bad_entries_are_refused_with_what_to_fix(change, message):
    document = {key: value for key, value in DEMO.items() if key not in change} | change
    if "targets" not in change:
        document["targets"] = [key for key in DEMO["targets"] if key in document["datasets"]]
    with pytest.raises(FiloError, match=message):
        registry_from_params(document)
