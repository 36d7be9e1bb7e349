"""`filo export`: from a model reference (registry URI, bundle folder, checkpoint) to an export folder.

The reference is resolved as `filo predict` resolves it (`open_predictor`): the checkpoint
that would serve the category (zero-shot first), the category's descriptions and the
verdict threshold. `filo.export.write_export` then writes the graph and its manifest, which
records the reference, the registered version it pointed at, the bundle direction and the
checkpoint's SHA-256.

A registered version can carry exports (`filo register --export DIR`): `collect_exports`
checks that each was made from one of the version's checkpoints, and the pyfunc model
serves their categories with `export_predictors`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export import ExportedModel, export_predictor, read_export, write_export
from filo.io import sha256_file
from filo.model.checkpoint import load_checkpoint
from filo.prediction.models import choose_candidate
from filo.prediction.predictor import Predictor
from filo.registry.bundle import Bundle, Direction
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


def _direction_of(exported: ExportedModel, directions: Sequence[Direction]) -> Direction:
    """The direction whose checkpoint the export was made from (by the checkpoint's SHA-256)."""
    digest = exported.manifest["source"].get("checkpoint_sha256")
    for direction in directions:
        if sha256_file(direction.files.checkpoint) == digest:
            return direction
    raise FiloError(
        f"export {exported.folder} was made from a checkpoint (SHA-256 {digest}) that is none of this model "
        f"version's directions ({sorted(d.name for d in directions)}); export from the checkpoint or registered "
        "model you register"
    )


def collect_exports(exports: Sequence[str | os.PathLike], directions: Sequence[Direction],
                    folder: str | os.PathLike) -> Path:
    """Copy verified export folders into `folder`, one subfolder per category; each must come from a direction."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    for path in exports:
        exported = read_export(path)
        _direction_of(exported, directions)
        target = folder / exported.category
        if target.exists():
            raise FiloError(f"two exports for category {exported.category!r} (the second: {path}); give one")
        shutil.copytree(exported.folder, target)
    return folder


def export_predictors(folder: str | os.PathLike, bundle: Bundle) -> dict[str, Predictor]:
    """Category -> onnxruntime predictor of each export in `folder`, at its direction's verdict threshold.

    A registered version's threshold may have been recalibrated at registration; the version's
    own threshold wins over the one the export carries, so both runtimes give one verdict.
    """
    predictors = {}
    for path in sorted(Path(folder).iterdir()):
        exported = read_export(path)
        direction = _direction_of(exported, list(bundle.directions.values()))
        predictors[exported.category] = export_predictor(path, threshold=direction.threshold,
                                                         calibration=direction.calibration)
    return predictors
