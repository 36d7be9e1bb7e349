"""Helpers of the evaluation tests that build inputs: tiny checkpoints and boxes artifacts."""

from __future__ import annotations

from pathlib import Path

import torch

from filo.boxes.artifact import rows_to_table, write_boxes_table
from filo.model.checkpoint import save_checkpoint
from filo.model.config import TrainingProvenance, preset_config
from filo.model.filo import FiLo


def write_tiny_checkpoint(path: Path, trained_categories: list[str] | None = None) -> Path:
    """An untrained tiny FiLo checkpoint (fixed seed), recording `trained_categories` as its provenance if given."""
    provenance = (TrainingProvenance(train_dataset="synth_mvtec", trained_categories=tuple(trained_categories))
                  if trained_categories is not None else None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        save_checkpoint(FiLo(preset_config("tiny", {"provenance": provenance})), path)
    return path


def write_centre_boxes(manifest, path: Path) -> Path:
    """A boxes artifact giving every test image one matched box around the centre (position "center")."""
    rows = [
        {"image_id": image_id, "category": category, "position": "center", "n_raw_boxes": 1, "n_kept_boxes": 1,
         "box_index": 0, "x1": 0.25, "y1": 0.25, "x2": 0.75, "y2": 0.75, "logit": 0.5, "phrase": "scratch",
         "matched": True}
        for image_id, category in manifest.loc[manifest["split"] == "test", ["image_id", "category"]].itertuples(index=False)
    ]
    write_boxes_table(rows_to_table(rows), path, rules=None, detector=None)
    return path
