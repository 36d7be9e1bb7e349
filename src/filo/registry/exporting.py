"""`filo export`: from a model reference (registry URI, bundle folder, checkpoint) to an export folder.

The reference is resolved as `filo predict` resolves it (`open_predictor`): the checkpoint
that would serve the category (zero-shot first), the category's descriptions and the
verdict threshold. `filo.export.write_export` then writes the graph and its manifest, which
records the reference, the registered version it pointed at, the bundle direction and the
checkpoint's SHA-256.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export import ExportedModel, write_export
from filo.io import sha256_file
from filo.model.checkpoint import load_checkpoint
from filo.prediction.models import choose_candidate
from filo.registry.loading import MODELS_SCHEME, _registered_version, open_predictor
from filo.tracking import tracking_uri


def registered_version(model_uri: str) -> str | None:
    """"NAME/VERSION" that a ``models:/`` URI points at now; None for other references."""
    if not model_uri.startswith(MODELS_SCHEME):
        return None
    import mlflow  # heavy: only models:/ URIs need it
    from mlflow.exceptions import MlflowException  # heavy: only models:/ URIs need it

    uri = tracking_uri()
    try:
        version = _registered_version(mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri), model_uri)
    except MlflowException as error:
        raise FiloError(f"cannot resolve {model_uri} in the MLflow store {uri} ({error.message})") from error
    return f"{version.name}/{version.version}"


def export_model(
    model: str | os.PathLike,
    category: str,
    out: str | os.PathLike,
    *,
    format: str = "onnx",
    descriptions: str | os.PathLike | None = None,
    threshold: float | None = None,
    calibration: Calibration | None = None,
) -> ExportedModel:
    """Export the checkpoint of `model` that serves `category` (a user-typed name) into folder `out`.

    `descriptions` and `threshold` (with `calibration`) override the model's, as in `filo predict`.
    """
    reference = str(model)
    version = registered_version(reference)
    with tempfile.TemporaryDirectory(prefix="filo-model-") as download_dir:
        predictor = open_predictor(reference, descriptions=descriptions, threshold=threshold,
                                   calibration=calibration, download_dir=download_dir)
        key = predictor.category_key(category)
        candidate = choose_candidate(predictor.candidates, key, default=predictor.default)
        source = {
            "model": reference,
            "registered_version": version,
            "direction": candidate.name,
            "checkpoint_sha256": sha256_file(candidate.checkpoint),
            "train_dataset": candidate.train_dataset,
            "trained_categories": sorted(candidate.trained_categories),
        }
        return write_export(
            load_checkpoint(Path(candidate.checkpoint)),
            key,
            predictor.descriptions.find(key),
            out,
            threshold=candidate.threshold,
            calibration=candidate.calibration,
            source=source,
            format=format,
        )
