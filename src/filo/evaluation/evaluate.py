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

from filo.errors import FiloError
from filo.evaluation.aggregate import EvaluationMetrics, compute_evaluation_metrics
from filo.evaluation.mlflow_log import DEFAULT_EXPERIMENT, log_run_inputs, log_run_outputs
from filo.evaluation.outputs import write_evaluation_outputs
from filo.evaluation.verdict import THRESHOLD_RULES, Verdict, check_rule_applicable, choose_verdict
from filo.evaluation.zero_shot import check_zero_shot
from filo.io import atomic_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from filo.boxes.artifact import ImageBoxes
    from filo.descriptions import CategoryDescriptions
    from filo.evaluation.scoring import ScoredImages
    from filo.model.config import FiLoConfig
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
class EvaluationSettings:
    """How an evaluation runs; the same knobs as the `filo evaluate` options.

    `threshold_rule` "f1" picks the F1-optimal verdict threshold, "fpr" the one keeping the
    false-positive rate on normal images at most `target_fpr`. `gallery_size` best and worst
    images go into the gallery (0: none). `bins` quantises pixel scores (None: exact).
    `box_lambda` replaces the checkpoint's λ for pixels outside the kept boxes (None keeps it);
    it acts only at inference, so changing it needs no retraining. `amp` runs the forward
    under bf16 autocast on CUDA (ignored on the CPU); off by default because bf16 moves the
    maps (see benchmarks/README.md, "Precision"). `experiment=None` turns MLflow logging off.
    """

    box_rule: str = "authors"
    threshold_rule: str = "f1"
    target_fpr: float = 0.05
    allow_overlap: bool = False
    batch_size: int = 8
    num_workers: int = 0
    device: str | None = None
    gallery_size: int = 4
    pro_fpr_limit: float = 0.3
    bins: int | None = None
    box_lambda: float | None = None
    amp: bool = False
    experiment: str | None = DEFAULT_EXPERIMENT

    def __post_init__(self) -> None:
        if self.threshold_rule not in THRESHOLD_RULES:
            raise FiloError(f"unknown threshold rule {self.threshold_rule!r}; choose one of {THRESHOLD_RULES}")
        if self.gallery_size < 0:
            raise FiloError(f"gallery size must be 0 (no gallery) or more, got {self.gallery_size}")
        if not 0.0 < self.pro_fpr_limit <= 1.0:
            raise FiloError(f"the AUPRO FPR limit must be in (0, 1], got {self.pro_fpr_limit}")
        if self.box_lambda is not None and not 0.0 <= self.box_lambda <= 1.0:
            raise FiloError(f"box_lambda must be in [0, 1], got {self.box_lambda}")
        if self.bins is not None and self.bins < 2:
            raise FiloError(f"bins must be at least 2 (or unset for exact metrics), got {self.bins}")

    def to_dict(self) -> dict:
        """The settings as a plain dict (MLflow params)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Inputs:
    """Everything read from disk before scoring."""

    manifest: pd.DataFrame
    model: FiLo
    descriptions: Mapping[str, CategoryDescriptions]
    boxes: Mapping[str, ImageBoxes] | None


def dataset_name(manifest: pd.DataFrame) -> str:
    """The manifest's dataset name(s), joined with "+"."""
    return "+".join(sorted(manifest["dataset"].unique()))


def resolve_device(device: str | None) -> str:
    """`device`, or "cuda" when available and "cpu" otherwise."""
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_inputs(paths: Mapping[str, Path | None], settings: EvaluationSettings) -> _Inputs:
    """Read the inputs and check, before any scoring, the zero-shot protocol and the threshold rule."""
    from filo.boxes.artifact import load_boxes
    from filo.data.manifest import read_manifest
    from filo.descriptions import load_descriptions
    from filo.model.checkpoint import load_checkpoint

    manifest = read_manifest(paths["manifest"])
    test = manifest[manifest["split"] == "test"]
    model = load_checkpoint(paths["model"])
    if settings.box_lambda is not None:
        model.config = dataclasses.replace(model.config, box_lambda=settings.box_lambda)
    check_zero_shot(model.config.extra, test["category"].unique(), allow_overlap=settings.allow_overlap,
                    model_name=str(paths["model"]))
    check_rule_applicable(settings.threshold_rule, test["label"].to_numpy(), settings.target_fpr)
    boxes = load_boxes(paths["boxes"]) if paths["boxes"] is not None else None
    if boxes is None:
        logger.warning("no --boxes: positions are averaged and nothing is suppressed (not the paper protocol)")
    if not manifest.attrs["has_masks"]:
        logger.warning("manifest %s has no masks: image-level metrics only", paths["manifest"])
    return _Inputs(manifest, model, load_descriptions(paths["descriptions"]), boxes)


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
    scored: ScoredImages,
    manifest: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    config: FiLoConfig,
    paths: Mapping[str, Path | None],
    boxes: Mapping[str, ImageBoxes] | None,
    settings: EvaluationSettings,
) -> EvaluationResult:
    """Metrics, verdict, the output folder and the MLflow run, from the scores of `manifest`'s test split.

    `config` is the scoring model's config and `paths` the inputs (see `input_paths`); both
    are logged. Used by `evaluate` and by flows that score in shards and merge the results.
    """
    from filo.tracking import start_run

    dataset = dataset_name(manifest)
    run_info = {"dataset": dataset, "boxes": boxes is not None, "box_rule": settings.box_rule,
                "pro_fpr_limit": settings.pro_fpr_limit, "bins": settings.bins}
    tracking = (start_run(settings.experiment, run_name=f"evaluate {dataset}") if settings.experiment
                else contextlib.nullcontext())
    with tracking as run:
        if run is not None:
            log_run_inputs(config, paths, {"dataset": dataset, **settings.to_dict()})
        metrics = compute_evaluation_metrics(scored.table, scored.anomaly_maps, scored.masks,
                                             pixel_metrics=manifest.attrs["has_masks"],
                                             pro_fpr_limit=settings.pro_fpr_limit, bins=settings.bins)
        verdict = choose_verdict(scored.table["label"].to_numpy(), scored.table["score"].to_numpy(),
                                 rule=settings.threshold_rule, target_fpr=settings.target_fpr)
        with atomic_path(out_dir) as directory:
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
    from filo.evaluation.scoring import score_manifest
    from filo.model.precision import cuda_precision

    settings = settings or EvaluationSettings()
    paths = input_paths(model_path, manifest_path, descriptions_path, boxes_path)
    inputs = _load_inputs(paths, settings)
    device = resolve_device(settings.device)
    scored = score_manifest(inputs.model, inputs.manifest, inputs.descriptions, boxes=inputs.boxes,
                            box_rule=settings.box_rule, batch_size=settings.batch_size,
                            num_workers=settings.num_workers, device=device,
                            precision=cuda_precision(device, settings.amp))
    return finish_evaluation(scored, inputs.manifest, out_dir, config=inputs.model.config, paths=paths,
                             boxes=inputs.boxes, settings=settings)
