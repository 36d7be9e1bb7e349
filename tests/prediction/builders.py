"""Tiny on-disk inputs for prediction and registry tests: checkpoints, images, evaluation outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# The demo's VisA-layout and MVTec-layout categories (described by filo's shipped defaults) and its checkpoint maker.
from filo.app.demo import CATEGORY as VISA_CATEGORY
from filo.app.demo import TRAIN_CATEGORY as MVTEC_CATEGORY
from filo.app.demo import save_tiny_checkpoint

__all__ = ["DESCRIPTIONS", "MVTEC_CATEGORY", "VISA_CATEGORY", "save_tiny_checkpoint", "write_descriptions_artifact",
           "write_images", "write_metrics", "write_verdict_file"]

DESCRIPTIONS = ("a long thin scratch", "a round hole", "a dark stain")


def write_images(folder: Path, count: int, *, size: tuple[int, int] = (80, 60), seed: int = 0) -> list[Path]:
    """`count` random RGB PNGs named 000.png, 001.png, ... in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        pixels = generator.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        path = folder / f"{index:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def write_descriptions_artifact(path: Path, categories: list[str], descriptions=DESCRIPTIONS) -> Path:
    """A descriptions artifact giving every category the same user descriptions."""
    from filo.descriptions import CategoryDescriptions, write_descriptions

    write_descriptions(path, {category: CategoryDescriptions(tuple(descriptions), "user") for category in categories})
    return path


def write_metrics(path: Path, *, dataset: str, image_auroc: float, pixel_auroc: float | None) -> Path:
    """A metrics.json summary in the shape `filo evaluate` writes (only what registration reads is meaningful)."""
    document = {"dataset": dataset, "image_auroc": image_auroc, "image_ap": 0.5, "pixel_auroc": pixel_auroc,
                "pixel_ap": 0.1, "threshold": 0.5, "n_normal": 5, "n_anomalous": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_verdict_file(path: Path, threshold: float, *, rule: str = "fpr", n_good: int = 20) -> Path:
    """A verdict.json written by evaluation's own writer (rule "fpr": target 5% over `n_good` good images)."""
    from filo.evaluation.verdict import Verdict, write_verdict

    target_fpr = 0.05 if rule == "fpr" else None
    write_verdict(path, Verdict(rule, threshold, target_fpr, {"tp": 1, "fp": 1, "tn": n_good - 1, "fn": 0}))
    return path
