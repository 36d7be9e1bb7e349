"""What a registered version of model "filo" holds: one folder per cross-dataset direction.

Layout of a bundle folder::

    bundle.json                       index (below)
    <direction>/model.pt              filo checkpoint (trainable weights + config)
    <direction>/metrics.json          `filo evaluate` metrics summary on the target dataset
    <direction>/verdict.json          `filo evaluate` verdict threshold
    <direction>/descriptions.json     descriptions artifact of the target dataset

A direction is named ``<train dataset>_to_<target dataset>`` (e.g.
``synth_mvtec_to_synth_visa``): the training dataset comes from the checkpoint's
``config.provenance.train_dataset`` (written by `filo train`), the target from
``metrics.json["dataset"]``. ``bundle.json``::

    {"schema_version": 2, "default_direction": "<name>",
     "directions": {"<name>": {"train_dataset": .., "target_dataset": .., "threshold": ..,
                               "calibration": {"rule": .., "target_fpr": .., "n_good": ..},
                               "trained_categories": [..], "files": {"checkpoint": .., ...},
                               "sha256": {"checkpoint": "<hex>", ...}}}}

Every file's SHA-256 is written into the index and checked whenever the bundle is opened,
so a damaged or edited file is refused (the checkpoint also carries its own content hash).
Schema-1 bundles (before the hashes) still open, with a warning that they cannot be verified.

``calibration`` (how the threshold was chosen, from verdict.json) is written for readers of
the index; loading takes it from the direction's verdict.json.

The default direction (used for a category every direction was trained on, and when
several qualify) is the MVTec-trained one when present.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.evaluation.verdict import Calibration, read_verdict
from filo.io import atomic_path, atomic_write_text, read_json_document, sha256_file
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.models import CandidateModel, default_candidate
from filo.prediction.predictor import CategoryCalibrations, Predictor

if TYPE_CHECKING:
    from filo.boxes.source import BoxSource

logger = logging.getLogger(__name__)

BUNDLE_FILE = "bundle.json"
SCHEMA_VERSION = 2
UNHASHED_SCHEMA_VERSION = 1
FILE_NAMES = {
    "checkpoint": "model.pt",
    "metrics": "metrics.json",
    "verdict": "verdict.json",
    "descriptions": "descriptions.json",
}


@dataclass(frozen=True)
class DirectionFiles:
    """The files of one direction as training and evaluation wrote them."""

    checkpoint: Path
    metrics: Path
    verdict: Path
    descriptions: Path

    def as_dict(self) -> dict[str, Path]:
        """Role ("checkpoint", "metrics", ...) -> path."""
        return {role: Path(getattr(self, role)) for role in FILE_NAMES}


def direction_files(checkpoints, metrics, verdicts, descriptions) -> list[DirectionFiles]:
    """One `DirectionFiles` per direction from four equally long lists (the repeated `filo register` options)."""
    groups = [list(checkpoints), list(metrics), list(verdicts), list(descriptions)]
    if len({len(group) for group in groups}) != 1:
        raise FiloError(
            "give a checkpoint, metrics, verdict and descriptions file once per direction, in the same order; got "
            f"{len(groups[0])}, {len(groups[1])}, {len(groups[2])} and {len(groups[3])}"
        )
    return [DirectionFiles(*map(Path, files)) for files in zip(*groups)]


@dataclass(frozen=True)
class Direction:
    """One checked direction: where its files are and what they say."""

    name: str
    train_dataset: str
    target_dataset: str
    trained_categories: tuple[str, ...]
    threshold: float
    calibration: Calibration
    """How the threshold was chosen (rule, target FPR, number of good images)."""
    mean_metrics: dict[str, float | None]
    """Mean-over-categories metrics on the target dataset (the metric keys of metrics.json)."""
    files: DirectionFiles

    def candidate(self) -> CandidateModel:
        """This direction as a checkpoint prediction can choose."""
        return CandidateModel(
            name=self.name,
            checkpoint=self.files.checkpoint,
            threshold=self.threshold,
            trained_categories=frozenset(self.trained_categories),
            train_dataset=self.train_dataset,
            calibration=dataclasses.replace(self.calibration, dataset=self.target_dataset),
        )


def read_metrics_summary(path: str | os.PathLike) -> tuple[str, dict[str, float | None]]:
    """(target dataset, mean metrics) of a `metrics.json` summary written by `filo evaluate`, checked."""
    from filo.evaluation.report import SUMMARY_METRICS

    path = Path(path)
    hint = "give the metrics.json that `filo evaluate` wrote into its --out-dir"
    document = read_json_document(path, what="metrics file", hint=hint)
    if not isinstance(document, dict) or not isinstance(document.get("dataset"), str):
        raise FiloError(f"metrics file {path} does not name its dataset; {hint}")
    mean = {key: document[key] for key in SUMMARY_METRICS if key in document}
    if not mean or not all(value is None or isinstance(value, (int, float)) for value in mean.values()):
        raise FiloError(f"metrics file {path} has no numeric mean metrics (of {list(SUMMARY_METRICS)}); {hint}")
    return document["dataset"], mean


def inspect_direction(files: DirectionFiles) -> Direction:
    """Read and cross-check one direction's files (checkpoint provenance, metrics, verdict, descriptions)."""
    checkpoint = CandidateModel.from_checkpoint(files.checkpoint)
    if not checkpoint.train_dataset:
        raise FiloError(
            f"checkpoint {files.checkpoint} does not record its training dataset (no training provenance "
            "in its config); register checkpoints written by `filo train`"
        )
    target, mean_metrics = read_metrics_summary(files.metrics)
    verdict = read_verdict(files.verdict)
    load_descriptions(files.descriptions)
    return Direction(
        name=f"{checkpoint.train_dataset}_to_{target}",
        train_dataset=checkpoint.train_dataset,
        target_dataset=target,
        trained_categories=tuple(sorted(checkpoint.trained_categories)),
        threshold=verdict.threshold,
        calibration=verdict.calibration,
        mean_metrics=mean_metrics,
        files=files,
    )


@dataclass(frozen=True)
class Bundle:
    """A bundle folder's directions and its default direction."""

    root: Path
    directions: dict[str, Direction]
    default_direction: str

    def candidates(self) -> list[CandidateModel]:
        """Every direction as a checkpoint prediction can choose."""
        return [direction.candidate() for direction in self.directions.values()]

    def description_artifacts(self) -> list[Mapping]:
        """The descriptions artifacts of all directions (default direction last, so it wins on a clash)."""
        order = sorted(self.directions, key=lambda name: name == self.default_direction)
        return [load_descriptions(self.directions[name].files.descriptions) for name in order]

    def predictor(
        self,
        *,
        descriptions: str | os.PathLike | None = None,
        threshold: float | None = None,
        calibration: Calibration | None = None,
        boxes: BoxSource | None = None,
        device: str = "cpu",
        calibrations: CategoryCalibrations | None = None,
    ) -> Predictor:
        """A predictor over this bundle's directions.

        `descriptions` (a JSON artifact or YAML user file) adds to and overrides the bundle's;
        `threshold` replaces every direction's verdict threshold (`calibration` says how it was
        chosen; None: by hand); `boxes` enables live detection; `calibrations` gives categories
        their own registered thresholds (ignored when `threshold` is given).
        """
        candidates = self.candidates()
        if threshold is not None:
            candidates = [candidate.with_threshold(threshold, calibration) for candidate in candidates]
        default = next(c for c in candidates if c.name == self.default_direction)
        lookup = DescriptionLookup.from_file(descriptions, self.description_artifacts())
        return Predictor(candidates, lookup, default=default, boxes=boxes, device=device,
                         calibrations=calibrations if threshold is None else None)


def _index_document(directions: Sequence[Direction], default: str, folder: Path) -> dict[str, Any]:
    """The bundle.json document of `directions` copied into `folder` (with each copied file's SHA-256)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "default_direction": default,
        "directions": {
            direction.name: {
                "train_dataset": direction.train_dataset,
                "target_dataset": direction.target_dataset,
                "threshold": direction.threshold,
                "calibration": direction.calibration.as_dict(),
                "trained_categories": list(direction.trained_categories),
                "files": {role: f"{direction.name}/{file_name}" for role, file_name in FILE_NAMES.items()},
                "sha256": {role: sha256_file(folder / direction.name / file_name)
                           for role, file_name in FILE_NAMES.items()},
            }
            for direction in directions
        },
    }


def write_bundle(directions: Sequence[Direction], out_dir: str | os.PathLike) -> Bundle:
    """Copy the directions' files into a new bundle folder at `out_dir` (atomically) and index them."""
    names = [direction.name for direction in directions]
    if not directions:
        raise FiloError("a bundle needs at least one direction (checkpoint + metrics + verdict + descriptions)")
    if len(set(names)) != len(names):
        raise FiloError(f"two directions have the same name in {names}; give each train/target pair once")
    default = default_candidate([direction.candidate() for direction in directions]).name
    with atomic_path(out_dir) as folder:
        folder.mkdir()
        for direction in directions:
            (folder / direction.name).mkdir()
            for role, source in direction.files.as_dict().items():
                shutil.copyfile(source, folder / direction.name / FILE_NAMES[role])
        atomic_write_text(folder / BUNDLE_FILE, json.dumps(_index_document(directions, default, folder), indent=2) + "\n")
    return read_bundle(out_dir)


def _check_hashes(files: DirectionFiles, expected: Mapping[str, str], index_path: Path) -> None:
    """FiloError naming every file of a direction whose SHA-256 differs from the one in the index."""
    changed = [str(path) for role, path in files.as_dict().items() if sha256_file(path) != expected[role]]
    if changed:
        raise FiloError(
            f"model bundle files {changed} do not match the SHA-256 recorded in {index_path} when the bundle "
            "was written: they were changed or damaged; download the registered model again or re-register it"
        )


def read_bundle(root: str | os.PathLike) -> Bundle:
    """Open a bundle folder; FiloError naming what is missing or malformed."""
    root = Path(root)
    index_path = root / BUNDLE_FILE
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FiloError(f"{root} is not a filo model bundle: cannot read {index_path} ({error})") from error
    version = index.get("schema_version")
    if version not in (UNHASHED_SCHEMA_VERSION, SCHEMA_VERSION) or not isinstance(index.get("directions"), dict):
        raise FiloError(f"{index_path} is not a schema-version-{SCHEMA_VERSION} bundle index")
    if version == UNHASHED_SCHEMA_VERSION:
        logger.warning("bundle %s was written before file hashes (schema 1); its files cannot be verified", root)
    directions = {}
    for name, entry in index["directions"].items():
        try:
            files = DirectionFiles(**{role: root / entry["files"][role] for role in FILE_NAMES})
            missing = [str(path) for path in files.as_dict().values() if not path.is_file()]
            if missing:
                raise FiloError(f"bundle {root} is incomplete: missing {missing}")
            if version == SCHEMA_VERSION:
                _check_hashes(files, entry["sha256"], index_path)
            directions[name] = Direction(
                name=name,
                train_dataset=entry["train_dataset"],
                target_dataset=entry["target_dataset"],
                trained_categories=tuple(entry["trained_categories"]),
                threshold=float(entry["threshold"]),
                calibration=read_verdict(files.verdict).calibration,
                mean_metrics=read_metrics_summary(files.metrics)[1],
                files=files,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise FiloError(f"{index_path}: direction {name!r} is malformed ({error!r}); re-register the model") from error
    default = index.get("default_direction")
    if default not in directions:
        raise FiloError(f"{index_path}: default direction {default!r} is not one of {sorted(directions)}")
    return Bundle(root, directions, default)
