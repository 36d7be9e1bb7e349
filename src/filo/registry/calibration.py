"""Calibrating a direction's verdict threshold as a production line would: on good images only, scored as served.

`filo evaluate` chooses its verdict on the evaluation's own scores, which use the offline
Grounding DINO boxes. The registered model predicts without a detector unless one is
given, so its scores differ; `calibrate_direction` therefore scores the good test images
of the target manifest through the same `Predictor` the registered model serves with and
sets the threshold at the target false-positive rate on them.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

from filo.data.manifest import read_manifest
from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.metrics import fpr_threshold
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.predictor import Predictor
from filo.registry.bundle import Direction


def calibrate_direction(
    direction: Direction, manifest: str | os.PathLike, target_fpr: float, *, device: str = "cpu"
) -> Direction:
    """`direction` with its threshold set so that at most `target_fpr` of `manifest`'s good test images are flagged.

    The images are scored as the registered model scores them (no detector); the record
    says rule "fpr", the target and the number of good images used.
    """
    frame = read_manifest(manifest)
    good = frame[(frame["split"] == "test") & (frame["label"] == 0)]
    if good.empty:
        raise FiloError(f"manifest {manifest} has no good test images to calibrate the verdict of {direction.name} on")
    lookup = DescriptionLookup.from_file(None, [load_descriptions(direction.files.descriptions)])
    predictor = Predictor([direction.candidate()], lookup, device=device)
    scores = []
    with tempfile.TemporaryDirectory(prefix="filo-calibration-") as overlays:
        for category, rows in good.groupby("category", sort=False):
            for prediction in predictor.predict(rows["image_path"].tolist(), category, Path(overlays),
                                                progress=False):
                if prediction.error is not None:
                    raise FiloError(f"cannot calibrate on {prediction.image_path}: {prediction.error}")
                scores.append(prediction.score)
    threshold = float(fpr_threshold(np.asarray(scores, dtype=np.float64), target_fpr))
    return dataclasses.replace(direction, threshold=threshold,
                               calibration=Calibration("fpr", target_fpr=target_fpr, n_good=len(scores)))
