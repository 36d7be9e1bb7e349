"""From what a user names with `--model` to a ready Predictor.

A model reference is one of:
- a registry URI (``models:/filo@champion``, ``models:/filo/3``, ``runs:/<id>/model``):
  the registered pyfunc model's bundle is downloaded from the MLflow store (`filo.registry.versions`);
- a bundle folder (holding ``bundle.json``);
- a single filo checkpoint file (no verdict unless a threshold or verdict file is given).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export import RUNTIMES, SESSIONS, export_predictor, is_export
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.models import CandidateModel
from filo.prediction.predictor import Predictor
from filo.registry.bundle import BUNDLE_FILE, read_bundle
from filo.registry.category_calibrations import RegistryCalibrations
from filo.registry.settings import DEFAULT_MODEL_URI
from filo.registry.versions import MODELS_SCHEME, REGISTRY_SCHEMES, download_bundle, registered_version

if TYPE_CHECKING:
    from filo.boxes.source import BoxSource


def open_predictor(
    model: str | os.PathLike = DEFAULT_MODEL_URI,
    *,
    descriptions: str | os.PathLike | None = None,
    threshold: float | None = None,
    calibration: Calibration | None = None,
    boxes: BoxSource | None = None,
    device: str = "cpu",
    download_dir: str | os.PathLike | None = None,
    runtime: str = "torch",
) -> Predictor:
    """A predictor for a model reference (see the module docstring).

    `runtime` "onnx" or "openvino" runs an export folder (`filo export`) with onnxruntime or
    OpenVINO instead; it carries its own descriptions, so `descriptions` must be None.

    `threshold` overrides the bundle's verdict thresholds (and is the only source of a
    verdict for a bare checkpoint); `calibration` says how it was chosen (None: by hand).
    Without `threshold`, a registered version's categories use their own calibrations
    (`filo calibrate --register`), read from the registry at every prediction. Registry
    downloads go to `download_dir` (default: a new temporary folder that is left in place;
    pass a folder you clean up).
    """
    reference = str(model)
    if runtime not in RUNTIMES:
        raise FiloError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime in SESSIONS:
        return _open_export(reference, runtime, descriptions=descriptions, threshold=threshold,
                            calibration=calibration, boxes=boxes, device=device)
    if is_export(reference):
        raise FiloError(f"--model {reference!r} is an exported model; run it with --runtime onnx or --runtime openvino")
    if reference.startswith(REGISTRY_SCHEMES):
        folder = download_dir or tempfile.mkdtemp(prefix="filo-model-")
        calibrations = None
        if reference.startswith(MODELS_SCHEME):
            name, version = registered_version(reference)
            reference, calibrations = f"{MODELS_SCHEME}{name}/{version}", RegistryCalibrations(name, version)
        bundle = read_bundle(download_bundle(reference, folder))
        return bundle.predictor(descriptions=descriptions, threshold=threshold, calibration=calibration,
                                 boxes=boxes, device=device, calibrations=calibrations)
    path = Path(reference)
    if (path / BUNDLE_FILE).is_file():
        return read_bundle(path).predictor(descriptions=descriptions, threshold=threshold,
                                           calibration=calibration, boxes=boxes, device=device)
    if path.is_file():
        candidate = CandidateModel.from_checkpoint(path, threshold=threshold, calibration=calibration)
        return Predictor([candidate], DescriptionLookup.from_file(descriptions), boxes=boxes, device=device)
    raise FiloError(
        f"--model {reference!r} is neither a registry URI ({DEFAULT_MODEL_URI}), a bundle folder nor a "
        "checkpoint file"
    )


def _open_export(reference: str, runtime: str, *, descriptions, threshold, calibration, boxes, device) -> Predictor:
    """A predictor running export folder `reference` with session backend `runtime` (onnxruntime, OpenVINO)."""
    if not is_export(reference):
        raise FiloError(
            f"--runtime {runtime} needs --model to be an export folder (holding manifest.json), got {reference!r}; "
            "make one with `filo export --model REF --category NAME --out DIR`"
        )
    if descriptions is not None:
        raise FiloError(
            f"export {reference} carries its category's descriptions; export again with --descriptions instead "
            "of passing them to predict"
        )
    return export_predictor(reference, threshold=threshold, calibration=calibration, boxes=boxes, device=device,
                            runtime=runtime)
