"""The evaluation stage: score a test set, compute metrics per category and their mean, write and log it all.

`evaluate` = read inputs and check the protocol + score + `finish_evaluation`; flows that
score in shards call `finish_evaluation` on the merged scores. The output directory appears
only when complete: everything is written into a temporary folder next to it, logged to
MLflow from there, and the folder is renamed into place at the end. A crash leaves the
previous output directory (if any) untouched; the MLflow run (opened once scores exist)
is then marked FAILED.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filo.device import resolve_device
from filo.evaluation.aggregate import EvaluationMetrics, compute_evaluation_metrics
from filo.evaluation.mlflow_log import log_run_inputs, log_run_outputs
from filo.evaluation.outputs import OUTPUT_FILES, write_evaluation_outputs
from filo.evaluation.settings import EvaluationSettings
from filo.evaluation.verdict import Verdict, check_rule_applicable, choose_verdict
from filo.evaluation.zero_shot import check_zero_shot
from filo.io import atomic_path
from filo.model.precision import amp_precision

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from filo.boxes.source import ArtifactBoxes
    from filo.descriptions import CategoryDescriptions
    from filo.evaluation.scoring import ScoredImages
    from filo.model.filo import FiLo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationResult:
    """What one evaluation produced."""

    out_dir: Path
    metrics: EvaluationMetrics
    verdict: Verdict
    run_id: str | None
    """The MLflow run the evaluation was logged to (None when tracking was off)."""


@dataclass(frozen=True)
class EvaluationInputs:
    """Everything read from disk before scoring, and where it was read from (see `input_paths`)."""

    paths: Mapping[str, Path | None]
    manifest: pd.DataFrame
    model: FiLo
    descriptions: Mapping[str, CategoryDescriptions]
    boxes: ArtifactBoxes | None


def dataset_name(manifest: pd.DataFrame) -> str:
    """The manifest's dataset name(s), joined with "+"."""
    return "+".join(sorted(manifest["dataset"].unique()))


def _read_model(model_path: str | os.PathLike, settings: EvaluationSettings) -> FiLo:
    """The checkpoint's model with the settings' λ override applied."""
    from filo.model.checkpoint import load_checkpoint

    model = load_checkpoint(model_path)
    if settings.box_lambda is not None:
        model.config = dataclasses.replace(model.config, box_lambda=settings.box_lambda)
    return model


def load_evaluation_inputs(paths: Mapping[str, Path | None], settings: EvaluationSettings) -> EvaluationInputs:
    """Read the inputs (see `input_paths`) and check, before any scoring, the zero-shot protocol and the rule."""
    from filo.boxes.source import ArtifactBoxes
    from filo.data.manifest import read_manifest
    from filo.descriptions import load_descriptions

    manifest = read_manifest(paths["manifest"])
    test = manifest[manifest["split"] == "test"]
    model = _read_model(paths["model"], settings)
    check_zero_shot(model.config.provenance, test["category"].unique(), allow_overlap=settings.allow_overlap,
                    model_name=str(paths["model"]))
    check_rule_applicable(settings.threshold_rule, test["label"].to_numpy(), settings.target_fpr)
    boxes = ArtifactBoxes.load(paths["boxes"], rule=settings.box_rule) if paths["boxes"] is not None else None
    if boxes is None:
        logger.warning("no --boxes: positions are averaged and nothing is suppressed (not the paper protocol)")
    if not manifest.attrs["has_masks"]:
        logger.warning("manifest %s has no masks: image-level metrics only", paths["manifest"])
    return EvaluationInputs(paths, manifest, model, load_descriptions(paths["descriptions"]), boxes)


def score_evaluation_part(paths: Mapping[str, Path | None], settings: EvaluationSettings) -> ScoredImages:
    """Score the test images of `paths["manifest"]` (a part of the evaluation set) without the protocol checks.

    For flows that score an evaluation in parts on several workers: the checks run once on
    the whole set (`load_evaluation_inputs`), then each part here, then `finish_evaluation`
    on the merged scores. Every input is read from disk, so a part runs on any worker.
    """
    from filo.boxes.source import ArtifactBoxes
    from filo.data.manifest import read_manifest
    from filo.descriptions import load_descriptions

    return _score(_read_model(paths["model"], settings), read_manifest(paths["manifest"]),
                  load_descriptions(paths["descriptions"]),
                  ArtifactBoxes.load(paths["boxes"], rule=settings.box_rule) if paths["boxes"] is not None else None,
                  settings)


def _score(model: FiLo, manifest: pd.DataFrame, descriptions: Mapping[str, CategoryDescriptions],
           boxes: ArtifactBoxes | None, settings: EvaluationSettings) -> ScoredImages:
    """The scores of `manifest`'s test images, with the settings' batch size, workers, device and precision."""
    from filo.evaluation.scoring import score_manifest

    return score_manifest(model, manifest, descriptions, boxes=boxes, batch_size=settings.batch_size,
                          num_workers=settings.num_workers, device=resolve_device(settings.device),
                          precision=amp_precision(settings.amp))


def input_paths(
    model_path: str | os.PathLike,
    manifest_path: str | os.PathLike,
    descriptions_path: str | os.PathLike,
    boxes_path: str | os.PathLike | None,
) -> dict[str, Path | None]:
    """The evaluation inputs by name ("model", "manifest", "descriptions", "boxes"), as logged to MLflow."""
    return {"model": Path(model_path), "manifest": Path(manifest_path), "descriptions": Path(descriptions_path),
            "boxes": Path(boxes_path) if boxes_path is not None else None}


def finish_evaluation(
    scored: ScoredImages, inputs: EvaluationInputs, out_dir: str | os.PathLike, settings: EvaluationSettings
) -> EvaluationResult:
    """Metrics, verdict, the output folder and the MLflow run, from the scores of `inputs.manifest`'s test split.

    `inputs` (`load_evaluation_inputs`) gives the scoring model's config and the input paths,
    both logged. Used by `evaluate` and by flows that score in shards and merge the results.
    """
    from filo.tracking import start_run

    manifest, boxes = inputs.manifest, inputs.boxes.by_image if inputs.boxes is not None else None
    dataset = dataset_name(manifest)
    run_info = {"dataset": dataset, "boxes": boxes is not None, "box_rule": settings.box_rule,
                "pro_fpr_limit": settings.pro_fpr_limit, "bins": settings.bins}
    tracking = (start_run(settings.experiment, run_name=f"evaluate {dataset}") if settings.experiment
                else contextlib.nullcontext())
    with tracking as run:
        if run is not None:
            log_run_inputs(inputs.model.config, inputs.paths, {"dataset": dataset, **settings.to_dict()})
        metrics = compute_evaluation_metrics(scored.table, scored.anomaly_maps, scored.masks,
                                             pixel_metrics=manifest.attrs["has_masks"],
                                             pro_fpr_limit=settings.pro_fpr_limit, bins=settings.bins)
        verdict = choose_verdict(scored.table["label"].to_numpy(), scored.table["score"].to_numpy(),
                                 rule=settings.threshold_rule, target_fpr=settings.target_fpr)
        with atomic_path(out_dir, owned=OUTPUT_FILES) as directory:
            directory.mkdir()
            write_evaluation_outputs(directory, scored, manifest, metrics, verdict, run_info=run_info,
                                     boxes=boxes, gallery_size=settings.gallery_size)
            if run is not None:
                log_run_outputs(directory, metrics, verdict)
    logger.info("evaluation of %s written to %s: %s", dataset, out_dir,
                ", ".join(f"{key} {value:.4f}" for key, value in metrics.mean.items()))
    return EvaluationResult(Path(out_dir), metrics, verdict, run.info.run_id if run is not None else None)


def evaluate(
    model_path: str | os.PathLike,
    manifest_path: str | os.PathLike,
    descriptions_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    boxes_path: str | os.PathLike | None = None,
    settings: EvaluationSettings | None = None,
) -> EvaluationResult:
    """Evaluate a FiLo checkpoint on a manifest's test split and write the results to `out_dir`.

    Refuses (FiloError) a model trained on any category of the manifest unless
    `settings.allow_overlap`, before scoring anything. Without `boxes_path` positions are
    averaged and no pixel is suppressed. Pixel metrics are computed only when the manifest
    has masks.
    """
    settings = settings or EvaluationSettings()
    inputs = load_evaluation_inputs(input_paths(model_path, manifest_path, descriptions_path, boxes_path), settings)
    scored = _score(inputs.model, inputs.manifest, inputs.descriptions, inputs.boxes, settings)
    return finish_evaluation(scored, inputs, out_dir, settings)
