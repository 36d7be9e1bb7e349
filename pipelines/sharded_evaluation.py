"""Evaluation split into shards: check once, score each shard anywhere, finish once on the merged scores.

The steps reuse the evaluation package's own pieces (`EvaluationSettings`, the protocol
checks, `score_manifest`, `finish_evaluation`), so a sharded run writes the same output
folder and MLflow run as `filo evaluate`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from filo.errors import FiloError

if TYPE_CHECKING:
    from filo.evaluation.evaluate import EvaluationResult, EvaluationSettings
    from filo.evaluation.scoring import ScoredImages
    from filo.model.config import FiLoConfig
    from filo.model.filo import FiLo


def evaluation_settings(values: Mapping[str, Any], *, source: str = "parameters") -> EvaluationSettings:
    """`EvaluationSettings` from a mapping (e.g. the `evaluate:` params section); unknown keys are named."""
    from filo.evaluation.evaluate import EvaluationSettings

    known = {field.name for field in dataclasses.fields(EvaluationSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FiloError(f"unknown evaluation setting(s) {unknown} in {source}; known: {sorted(known)}")
    return EvaluationSettings(**values)


def _load_model(model_path: str | os.PathLike, settings: EvaluationSettings) -> FiLo:
    """The checkpoint's model, with the settings' λ override applied."""
    from filo.model.checkpoint import load_checkpoint

    model = load_checkpoint(model_path)
    if settings.box_lambda is not None:
        model.config = dataclasses.replace(model.config, box_lambda=settings.box_lambda)
    return model


def check_evaluation_inputs(
    model_path: str | os.PathLike, manifest_path: str | os.PathLike, settings: EvaluationSettings
) -> FiLoConfig:
    """Fail before any scoring when the zero-shot protocol or the threshold rule cannot hold.

    Returns the config the shards score with (logged by `finish_sharded_evaluation`).
    """
    from filo.data.manifest import read_manifest
    from filo.evaluation.verdict import check_rule_applicable
    from filo.evaluation.zero_shot import check_zero_shot

    manifest = read_manifest(manifest_path)
    test = manifest[manifest["split"] == "test"]
    config = _load_model(model_path, settings).config
    check_zero_shot(config.provenance, test["category"].unique(), allow_overlap=settings.allow_overlap,
                    model_name=str(model_path))
    check_rule_applicable(settings.threshold_rule, test["label"].to_numpy(), settings.target_fpr)
    return config


def score_shard(
    model_path: str | os.PathLike,
    shard_manifest_path: str | os.PathLike,
    descriptions_path: str | os.PathLike,
    boxes_path: str | os.PathLike | None,
    settings: EvaluationSettings,
) -> ScoredImages:
    """Score the test images of one shard manifest (every input is read from disk, so it runs on any worker)."""
    from filo.boxes.source import ArtifactBoxes
    from filo.data.manifest import read_manifest
    from filo.descriptions import load_descriptions
    from filo.device import resolve_device
    from filo.evaluation.scoring import score_manifest

    return score_manifest(
        _load_model(model_path, settings),
        read_manifest(shard_manifest_path),
        load_descriptions(descriptions_path),
        boxes=ArtifactBoxes.load(boxes_path, rule=settings.box_rule) if boxes_path is not None else None,
        batch_size=settings.batch_size,
        num_workers=settings.num_workers,
        device=resolve_device(settings.device),
    )


def finish_sharded_evaluation(
    scored: ScoredImages,
    config: FiLoConfig,
    model_path: str | os.PathLike,
    manifest_path: str | os.PathLike,
    descriptions_path: str | os.PathLike,
    boxes_path: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    settings: EvaluationSettings,
) -> EvaluationResult:
    """`filo evaluate`'s metrics, verdict, output folder and MLflow run from the merged shard scores."""
    from filo.boxes.artifact import load_boxes
    from filo.data.manifest import read_manifest
    from filo.evaluation.evaluate import finish_evaluation, input_paths

    return finish_evaluation(
        scored,
        read_manifest(manifest_path),
        out_dir,
        config=config,
        paths=input_paths(model_path, manifest_path, descriptions_path, boxes_path),
        boxes=load_boxes(boxes_path) if boxes_path is not None else None,
        settings=settings,
    )
