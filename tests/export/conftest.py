"""Fixtures of the export tests: a tiny checkpoint and its ONNX export for one category (exported once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prediction.builders import MVTEC_CATEGORY, VISA_CATEGORY, save_tiny_checkpoint, write_images

CATEGORY = VISA_CATEGORY
"""The exported category: one the checkpoint was not trained on (zero-shot, as prediction chooses)."""
THRESHOLD = 0.5


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("export-model") / "model.pt",
                                train_dataset="synth_mvtec", trained_categories=[MVTEC_CATEGORY])


@pytest.fixture(scope="session")
def exported(checkpoint, tmp_path_factory) -> Path:
    """`filo export` of `checkpoint` for CATEGORY with a verdict threshold, through the CLI."""
    from filo.cli import main

    out = tmp_path_factory.mktemp("exports") / "wood"
    code = main(["export", "--model", str(checkpoint), "--category", CATEGORY.replace("_", " "),
                 "--threshold", str(THRESHOLD), "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture
def images(tmp_path) -> list[Path]:
    return write_images(tmp_path / "images", 3)
