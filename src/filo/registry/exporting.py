"""`filo export`: from a model reference (registry URI, bundle folder, checkpoint) to an export folder.

The reference is resolved as `filo predict` resolves it (`open_predictor`): the checkpoint
that would serve the category (zero-shot first), the category's descriptions and the
verdict threshold. `filo.export.write_export` then writes the graph and its manifest, which
records the reference, the registered version it pointed at, the bundle direction and the
checkpoint's SHA-256.

A registered version can carry exports (`filo register --export DIR`): `collect_exports`
checks that each was made from one of the version's checkpoints, and the pyfunc model
serves their categories with `export_predictors`. `open_exports` runs what a model reference
names on an export runtime, for its exported categories only (`filo app --runtime onnx|openvino`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export import ExportedModel, export_predictor, is_export, read_export, write_export
from filo.io import sha256_file
from filo.model.checkpoint import load_checkpoint
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.models import choose_candidate
from filo.prediction.predictor import ImagePrediction, Predictor
from filo.registry.bundle import Bundle, Direction, read_bundle
from filo.registry.loading import open_predictor
from filo.registry.versions import (
    BUNDLE_ARTIFACT,
    EXPORTS_ARTIFACT,
    MODELS_SCHEME,
    REGISTRY_SCHEMES,
    download_model,
    registered_version,
)


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
    version = "/".join(registered_version(reference)) if reference.startswith(MODELS_SCHEME) else None
    # Load the version the manifest names, by number: an alias moved meanwhile must not export another one.
    pinned = f"{MODELS_SCHEME}{version}" if version is not None else reference
    with tempfile.TemporaryDirectory(prefix="filo-model-") as download_dir:
        predictor = open_predictor(pinned, descriptions=descriptions, threshold=threshold,
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


def export_predictors(folder: str | os.PathLike, bundle: Bundle, *, runtime: str = "onnx") -> dict[str, Predictor]:
    """Category -> predictor of each export in `folder` on `runtime` (an export runtime of `filo.export.SESSIONS`),
    at its direction's verdict threshold.

    A registered version's threshold may have been recalibrated at registration; the version's
    own threshold wins over the one the export carries, so both runtimes give one verdict.
    """
    predictors = {}
    for path in sorted(Path(folder).iterdir()):
        exported = read_export(path)
        direction = _direction_of(exported, list(bundle.directions.values()))
        predictors[exported.category] = export_predictor(path, threshold=direction.threshold,
                                                         calibration=direction.calibration, runtime=runtime)
    return predictors


class CategoryExports:
    """The exports a model reference names, run on an export runtime: `Predictor`'s `descriptions`,
    `category_key` and `predict`, for the exported categories only (any other gets a FiloError naming them)."""

    def __init__(self, reference: str, predictors: dict[str, Predictor]) -> None:
        self.reference = reference
        self.predictors = predictors
        self.descriptions = DescriptionLookup([{category: predictor.descriptions.find(category)
                                                for category, predictor in predictors.items()}])

    def category_key(self, name: str) -> str:
        """The raw key of a user-typed category name; FiloError unless it is one of the exported categories."""
        key = self.descriptions.category_key(name)
        if key not in self.predictors:
            raise FiloError(f"{self.reference} is exported for category {', '.join(map(repr, self.predictors))} "
                            f"only, not {key!r}; export one for it with `filo export --category {key}` (or run "
                            "the model with the torch runtime)")
        return key

    def predict(self, image_paths: Sequence[str | os.PathLike], category: str, out_dir: str | os.PathLike,
                **options) -> Iterator[ImagePrediction]:
        """`Predictor.predict` with the export of `category`."""
        return self.predictors[self.category_key(category)].predict(image_paths, category, out_dir, **options)


def open_exports(reference: str, *, download_dir: str | os.PathLike, runtime: str = "onnx") -> CategoryExports:
    """The exports `reference` names, run on `runtime` (onnx, openvino): an export folder (`filo export`), or a
    registry URI whose version carries exports (`filo register --export`, downloaded into `download_dir`, at the
    version's thresholds)."""
    if reference.startswith(REGISTRY_SCHEMES):
        artifacts = download_model(reference, download_dir)
        if EXPORTS_ARTIFACT not in artifacts:
            raise FiloError(f"{reference} carries no exported model; register the version with "
                            "`filo register --export DIR`, or name an export folder (`filo export ... --out DIR`)")
        return CategoryExports(reference, export_predictors(artifacts[EXPORTS_ARTIFACT],
                                                            read_bundle(artifacts[BUNDLE_ARTIFACT]), runtime=runtime))
    if not is_export(reference):
        raise FiloError(f"the {runtime} runtime needs an export folder (holding manifest.json) or a registry URI whose "
                        f"version carries exports, got {reference!r}; make one with "
                        "`filo export --model REF --category NAME --out DIR`")
    predictor = export_predictor(reference, runtime=runtime)
    (category,) = predictor.descriptions.table  # an export's lookup holds its one category
    return CategoryExports(reference, {category: predictor})
