"""Calibrating verdict thresholds as a production line would: on good images only, scored as served.

`filo evaluate` chooses its verdict on the evaluation's own scores, which use the offline
Grounding DINO boxes. The registered model predicts without a detector unless one is
given, so its scores differ. Both calibrations here therefore score good images through
the same `Predictor` the registered model serves with (`good_image_scores`) and pick the
threshold at the target false-positive rate on them with `filo evaluate`'s own rule
(`choose_verdict`, rule "fpr"):

* `calibrate_direction`: a bundle direction, on the good test images of its target manifest
  (`filo register` with `register.calibrate_fpr`);
* `calibrate_category`: one category, on a folder of its good images (`filo calibrate`). The
  result is a `Verdict` with the category and what it was chosen on (folder, content digest,
  image count, model version, descriptions): `write_verdict` makes it a verdict.json that
  `filo predict --verdict` reads, `filo.registry.category_calibrations.register_category_verdict`
  stores it on a registered version, where predict, the app and the REST endpoint find it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from filo.data.manifest import read_manifest
from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.evaluation.verdict import Verdict, choose_verdict
from filo.io import sha256_file
from filo.prediction.descriptions import DescriptionLookup, descriptions_digest
from filo.prediction.models import choose_candidate
from filo.prediction.predictor import Predictor
from filo.registry.bundle import BUNDLE_FILE, Direction
from filo.registry.loading import open_predictor
from filo.registry.settings import DEFAULT_TARGET_FPR
from filo.registry.versions import MODELS_SCHEME, registered_version
from filo.vocabulary import check_category_name

logger = logging.getLogger(__name__)


def good_image_scores(predictor: Predictor, paths: Sequence[str | os.PathLike], category: str) -> np.ndarray:
    """Scores of good images of raw `category` exactly as `predictor` serves them (float64, input order).

    Raises FiloError listing every file that could not be read as an image (no score is kept then).
    """
    scores, unreadable = [], []
    with tempfile.TemporaryDirectory(prefix="filo-calibration-") as overlays:
        for prediction in predictor.predict(list(paths), category, Path(overlays), progress=False):
            if prediction.error is not None:
                unreadable.append(f"{prediction.image_path} ({prediction.error})")
            else:
                scores.append(prediction.score)
    if unreadable:
        raise FiloError(
            f"cannot calibrate {category} on {len(unreadable)} of {len(paths)} files that are not readable images: "
            f"{'; '.join(unreadable[:5])}{' ...' if len(unreadable) > 5 else ''}; remove or replace them"
        )
    return np.asarray(scores, dtype=np.float64)


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
    scores = np.concatenate([good_image_scores(predictor, rows["image_path"].tolist(), category)
                             for category, rows in good.groupby("category", sort=False)])
    verdict = choose_verdict(np.zeros(len(scores), dtype=int), scores, rule="fpr", target_fpr=target_fpr)
    return dataclasses.replace(direction, threshold=verdict.threshold, calibration=verdict.calibration)


def images_digest(paths: Sequence[Path], root: Path | None = None) -> str:
    """SHA-256 over the images' names (relative to `root`, else file names) and contents, in name order."""
    digest = hashlib.sha256()
    named = sorted((path.relative_to(root).as_posix() if root else path.name, path) for path in paths)
    for name, path in named:
        digest.update(f"{name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def images_needed(target_fpr: float) -> int:
    """The fewest good images on which a false-positive rate of `target_fpr` can be observed at all (1/target)."""
    return math.ceil(1.0 / target_fpr - 1e-9)


def _good_images(good: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[list[Path], Path | None]:
    """The image files of `good` (a folder, searched recursively, or a list of files) and the folder, if one."""
    from filo.prediction.inputs import collect_images

    if isinstance(good, (str, os.PathLike)):
        folder = Path(good)
        if not folder.is_dir():
            raise FiloError(f"{folder} is not a folder; give the folder of good images of the category")
        return collect_images([folder]), folder
    return collect_images(good), None


def _model_record(reference: str) -> tuple[str, dict[str, Any]]:
    """What to load for a model reference (a registered version pinned by number) and how the verdict names it."""
    if reference.startswith(MODELS_SCHEME):
        name, version = registered_version(reference)
        return f"{MODELS_SCHEME}{name}/{version}", {"reference": reference, "name": name, "version": version}
    path = Path(reference)
    identity = path / BUNDLE_FILE if (path / BUNDLE_FILE).is_file() else path
    return reference, {"reference": reference, "sha256": sha256_file(identity) if identity.is_file() else None}


def calibrate_category(
    model: str | os.PathLike,
    good: str | os.PathLike | Sequence[str | os.PathLike],
    category: str,
    target_fpr: float = DEFAULT_TARGET_FPR,
    *,
    descriptions: str | os.PathLike | None = None,
    device: str | None = None,
) -> Verdict:
    """The verdict of `category` whose threshold flags at most `target_fpr` of its good images `good`.

    `model` is what `filo predict --model` takes (a registered version is pinned by number);
    `good` a folder (searched recursively) or a list of image files, all known good;
    `descriptions` as `filo predict --descriptions`. The images are scored as predict and the
    registered model serve them. With fewer good images than 1/target_fpr a warning says the
    rate cannot be met with confidence and how many images are needed. Raises FiloError for
    an empty folder, a folder without images or files that are not readable images.
    """
    from filo.device import resolve_device

    check_category_name(category)  # before any image is read or model loaded
    if not 0.0 < target_fpr < 1.0:
        raise FiloError(f"--target-fpr must lie in (0, 1), got {target_fpr}")
    paths, folder = _good_images(good)
    pinned, model_record = _model_record(str(model))
    with tempfile.TemporaryDirectory(prefix="filo-model-") as download_dir:
        predictor = open_predictor(pinned, descriptions=descriptions, device=resolve_device(device),
                                   download_dir=download_dir)
        key = predictor.category_key(category)
        scores = good_image_scores(predictor, paths, key)
        candidate = choose_candidate(predictor.candidates, key, default=predictor.default)
        used = predictor.descriptions.find(key)
    verdict = choose_verdict(np.zeros(len(scores), dtype=int), scores, rule="fpr", target_fpr=target_fpr)
    needed = images_needed(target_fpr)
    calibrated_on = {
        "folder": str(folder) if folder is not None else None,
        "digest": images_digest(paths, folder),
        "n_images": len(paths),
        "model": {**model_record, "direction": candidate.name},
        "descriptions": {"source": used.source, "digest": descriptions_digest(used)},
    }
    if len(paths) < needed:
        warning = (f"only {len(paths)} good images: a false-positive rate of {target_fpr:g} cannot be met with "
                   f"confidence; calibrate on at least {needed} good images of {key}")
        logger.warning(warning)
        calibrated_on["warning"] = warning
    return dataclasses.replace(verdict, category=key, calibrated_on=calibrated_on)
