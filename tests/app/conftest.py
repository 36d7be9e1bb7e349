"""A tiny demo for the app tests: a synthetic VisA-layout test set evaluated and registered as champion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from filo.app.demo import build_demo
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
    """`filo.app.demo.build_demo`: synthetic data, tiny checkpoint, `evaluate` (fpr rule), registered champion."""
    built = build_demo(tmp_path_factory.mktemp("app-demo"))
    settings = AppSettings(results_dir=str(built.results_dir), profile=str(built.root), page_size=4, roots=built.roots)
    return Demo(built.root, built.tracking_uri, settings, built.images)


@pytest.fixture
def app_client(demo, monkeypatch):
    """A TestClient of the app over the demo (MLflow store selected by MLFLOW_TRACKING_URI)."""
    from fastapi.testclient import TestClient

    from filo.app.server import create_app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    with TestClient(create_app(demo.settings)) as client:
        yield client
