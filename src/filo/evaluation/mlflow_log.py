"""What an evaluation logs to its MLflow run: input hashes, provenance, settings, metrics, output files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filo.io import sha256_file
from filo.tracking import flatten_params, log_file_artifact

if TYPE_CHECKING:
    from filo.evaluation.aggregate import EvaluationMetrics
    from filo.evaluation.verdict import Verdict
    from filo.model.config import FiLoConfig

DEFAULT_EXPERIMENT = "filo"
"""MLflow experiment of evaluation runs: the same family as training runs."""
ARTIFACT_ROOT = "evaluation"


def metric_names(metrics: EvaluationMetrics, verdict: Verdict) -> dict[str, float]:
    """Flat MLflow metrics: the mean under its plain key, categories and the verdict under prefixes.

    Undefined (NaN) values are left out.
    """
    flat = dict(metrics.mean)
    for category, values in metrics.per_category.items():
        flat.update({f"per_category/{category}/{key}": value for key, value in values.items()})
    flat["verdict/threshold"] = verdict.threshold
    flat.update({f"verdict/{key}": float(count) for key, count in verdict.confusion.items()})
    return {key: value for key, value in flat.items() if not math.isnan(value)}


def log_run_inputs(config: FiLoConfig, inputs: Mapping[str, Path | None], settings: Mapping[str, Any]) -> None:
    """Tag the active run with each input's sha256 and the model's provenance; log settings and config as params."""
    import mlflow  # kept lazy: imported at CLI start-up

    tags = {"filo.stage": "evaluate"}
    tags.update({f"{name}.sha256": sha256_file(path) for name, path in inputs.items() if path is not None})
    if config.provenance is not None:
        tags.update(flatten_params(config.provenance.to_dict(), prefix="model.provenance."))
    mlflow.set_tags(tags)
    mlflow.log_params(flatten_params({**settings, "model": config.to_dict()}))


def log_run_outputs(directory: Path, metrics: EvaluationMetrics, verdict: Verdict) -> None:
    """Log the metrics and every file under `directory` (each tagged with its sha256) to the active run."""
    import mlflow  # kept lazy: imported at CLI start-up

    mlflow.log_metrics(metric_names(metrics, verdict))
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        parent = path.parent.relative_to(directory)
        log_file_artifact(path, artifact_path=(Path(ARTIFACT_ROOT) / parent).as_posix())
