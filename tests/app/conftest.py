"""A tiny demo for the app tests: a synthetic VisA-layout test set evaluated and registered as champion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from prediction.builders import MVTEC_CATEGORY, VISA_CATEGORY, save_tiny_checkpoint

from filo.app.settings import AppSettings


@dataclass(frozen=True)
class Demo:
    """Where the tiny demo lives and the app settings that show it."""

    root: Path
    tracking_uri: str
    settings: AppSettings
    images: list[Path]
    """The demo's test images (normal and anomalous)."""


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    """Synthetic data -> manifest -> descriptions -> tiny checkpoint -> `evaluate` (fpr rule) -> champion."""
    from filo.data.index import index_dataset
    from filo.data.manifest import read_manifest
    from filo.data.synthetic import generate_dataset
    from filo.descriptions import resolve_descriptions, write_descriptions
    from filo.evaluation.evaluate import evaluate
    from filo.evaluation.settings import EvaluationSettings
    from filo.registry.bundle import DirectionFiles
    from filo.registry.registration import register_bundle
    from filo.registry.settings import RegisterSettings

    root = tmp_path_factory.mktemp("app-demo")
    generate_dataset("visa", root / "data" / "datasets" / "visa", seed=0, categories=[VISA_CATEGORY], image_size=64,
                     n_train_good=1, n_test_good=4, n_test_per_defect=1)
    # As in the demo profile: the registry entry "visa" names the dataset synth_visa; its manifest is the key's.
    (root / "params.yaml").write_text("datasets:\n  visa: {name: synth_visa, layout: visa, source: synthetic}\n")
    manifest = root / "data" / "manifests" / "visa.parquet"
    manifest.parent.mkdir(parents=True)
    index_dataset(root / "data" / "datasets" / "visa", manifest, dataset="synth_visa")
    descriptions = root / "descriptions.json"
    write_descriptions(descriptions, resolve_descriptions([VISA_CATEGORY], cache_dir=root / "cache"))
    checkpoint = save_tiny_checkpoint(root / "model.pt", train_dataset="synth_mvtec",
                                      trained_categories=[MVTEC_CATEGORY])
    out = root / "results" / "mvtec_to_visa"
    evaluate(checkpoint, manifest, descriptions, out,
             settings=EvaluationSettings(threshold_rule="fpr", target_fpr=0.25, gallery_size=0, experiment=None))
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        register_bundle([DirectionFiles(checkpoint, out / "metrics.json", out / "verdict.json", descriptions)],
                        RegisterSettings(dvc_lock=root / "none.lock"), repo=root)
    settings = AppSettings(results_dir=str(root / "results"), profile=str(root), page_size=4,
                           roots=(str(root / "data"), str(root / "results")))
    images = sorted(Path(p) for p in read_manifest(manifest)["image_path"])
    return Demo(root, uri, settings, images)


@pytest.fixture
def app_client(demo, monkeypatch):
    """A TestClient of the app over the demo (MLflow store selected by MLFLOW_TRACKING_URI)."""
    from fastapi.testclient import TestClient

    from filo.app.server import create_app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    with TestClient(create_app(demo.settings)) as client:
        yield client
