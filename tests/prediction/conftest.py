"""Fixtures of the prediction tests: a tiny checkpoint trained "on MVTec" and a few images."""

from __future__ import annotations

from pathlib import Path

import pytest

from .builders import MVTEC_CATEGORY, save_tiny_checkpoint, write_images


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny checkpoint recording training on the MVTec-layout demo category."""
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("prediction-model") / "model.pt",
        train_dataset="synth_mvtec",
        trained_categories=[MVTEC_CATEGORY],
    )


@pytest.fixture
def images(tmp_path) -> list[Path]:
    """Three random 80x60 PNGs."""
    return write_images(tmp_path / "images", 3)
