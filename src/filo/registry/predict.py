"""Predicting image files and folders of one category with a registered model, a bundle or a checkpoint (`filo predict`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_OUT_DIR = Path("predictions")
"""Where `filo predict` writes its heat-map overlays unless told otherwise."""


def predict_images(
    inputs: Sequence[str | os.PathLike],
    category: str,
    *,
    model: str | os.PathLike = "models:/filo@champion",
    descriptions: str | os.PathLike | None = None,
    threshold: float | None = None,
    verdict: str | os.PathLike | None = None,
    detector_config: str | os.PathLike | None = None,
    detector_checkpoint: str | os.PathLike | None = None,
    text_encoder: str | None = None,
    box_image_size: int | None = None,
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    device: str | None = None,
    progress: bool = True,
    raw_maps: str | None = None,
    runtime: str = "torch",
):
    """Predict image files and folders (searched recursively) of `category`; yields `ImagePrediction`s.

    Overlays go to `out_dir` (default `DEFAULT_OUT_DIR`). `threshold` or `verdict` (a
    verdict.json of `filo evaluate` or `filo calibrate`) replaces the model's threshold.
    Both detector paths enable live Grounding DINO boxes (position + suppression).
    `raw_maps` ("npy" or "png16") also saves each full-resolution map next to its overlay.
    `runtime` "onnx" or "openvino" runs a `filo export` folder with onnxruntime or OpenVINO on CPU
    (the default device then).
    """
    from filo.boxes.rules import AUTHORS_RULES
    from filo.boxes.source import DetectorBoxes
    from filo.device import resolve_device
    from filo.errors import FiloError
    from filo.evaluation.verdict import read_verdict
    from filo.export.runtime import SESSIONS
    from filo.prediction import collect_images
    from filo.registry.loading import open_predictor

    if threshold is not None and verdict is not None:
        raise FiloError("give --threshold or --verdict, not both")
    if (detector_config is None) != (detector_checkpoint is None):
        raise FiloError("live boxes need both --detector-config and --detector-checkpoint")
    images = collect_images(inputs)
    device = "cpu" if runtime in SESSIONS and device is None else resolve_device(device)
    calibration = None
    if verdict is not None:
        chosen = read_verdict(verdict)
        threshold, calibration = chosen.threshold, chosen.calibration
    boxes = None
    if detector_config is not None:
        rules = dataclasses.replace(AUTHORS_RULES, image_size=box_image_size or AUTHORS_RULES.image_size)
        boxes = DetectorBoxes.load(detector_config, detector_checkpoint, text_encoder=text_encoder,
                                   device=device, rules=rules)
    with tempfile.TemporaryDirectory(prefix="filo-model-") as download_dir:
        predictor = open_predictor(model, descriptions=descriptions, threshold=threshold,
                                   calibration=calibration, boxes=boxes, device=device,
                                   download_dir=download_dir, runtime=runtime)
        key = predictor.category_key(category)
        if calibration is not None and calibration.category not in (None, key):
            logger.warning("verdict file %s was calibrated on category %s, not %s; its threshold may not hold "
                           "its false-positive rate here", verdict, calibration.category, key)
        yield from predictor.predict(images, key, out_dir or DEFAULT_OUT_DIR, batch_size=batch_size,
                                     progress=progress, raw_maps=raw_maps)
