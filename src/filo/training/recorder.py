"""What a training run logs to MLflow: params, per-epoch losses and learning rates, the checkpoint."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from filo.tracking import flatten_params, log_file_artifact, start_run


class TrainingRecorder:
    """Logs one training run; every method is a no-op when MLflow logging is off.

    Metric names: `<phase>/loss` and `<phase>/lr/<group>` (step = 1-based epoch of the phase).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.run_id: str | None = None

    @contextlib.contextmanager
    def run(self, experiment: str, run_name: str, tags: Mapping[str, str], *,
            params: Mapping[str, Any], resume_run_id: str | None) -> Iterator[TrainingRecorder]:
        """Open (or, on resume, reopen) the MLflow run; params are logged once, by the first attempt."""
        if not self.enabled:
            yield self
            return
        import mlflow  # heavy: only when tracking is on

        with start_run(experiment, run_name, tags, run_id=resume_run_id) as active:
            self.run_id = active.info.run_id
            if self.run_id != resume_run_id:
                mlflow.log_params(flatten_params(params))
            yield self

    def log_epoch(self, phase: str, epoch: int, loss: float, optimizer: torch.optim.Optimizer, *,
                  seconds: float) -> None:
        """Log an epoch's mean loss, its wall time (`<phase>/epoch_seconds`) and each parameter group's learning rate."""
        if not self.enabled:
            return
        import mlflow  # heavy: only when tracking is on

        metrics = {f"{phase}/loss": loss, f"{phase}/epoch_seconds": seconds}
        metrics.update({f"{phase}/lr/{group['name']}": group["lr"] for group in optimizer.param_groups})
        mlflow.log_metrics(metrics, step=epoch)

    def log_checkpoint(self, path: str | os.PathLike) -> None:
        """Log the final checkpoint as an artifact (with its sha256 as a tag)."""
        if self.enabled:
            log_file_artifact(path, artifact_path="model")
