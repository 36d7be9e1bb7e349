"""Per-epoch training-state checkpoints: what `--resume` needs to continue a killed run exactly.

A state file holds the trainable weights, the current phase's optimizer state, every
global RNG state, the phase and the number of its epochs completed, the per-epoch loss
history, the MLflow run id, and the run's fingerprint (result-affecting parameters,
model config and input hashes). It lives next to the final checkpoint
(`models/NAME.pt` → `models/NAME.pt.train/last.pt`) and is replaced atomically after
every epoch, so a crash leaves the previous epoch's state intact. A content hash
(`filo.integrity`) is written with it and checked on resume, so a damaged state is refused.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from filo.errors import FiloError
from filo.integrity import seal, verify
from filo.io import atomic_write_bytes

STATE_FORMAT = "filo-train-state"
STATE_VERSION = 2


def training_state_path(out: str | os.PathLike) -> Path:
    """Where the training state of a run writing `out` lives: `<out>.train/last.pt`."""
    out = Path(out)
    return out.with_name(out.name + ".train") / "last.pt"


@dataclass
class TrainingState:
    """Everything needed to continue training after the last completed epoch."""

    fingerprint: dict[str, Any]
    """Result-affecting params, model config and input hashes; must match on resume."""
    phase: str
    """Name of the phase the last completed epoch belongs to."""
    epochs_done: int
    """Completed epochs of that phase."""
    model: dict[str, torch.Tensor]
    """Trainable weights (FiLo.trainable_state_dict)."""
    optimizer: dict[str, Any]
    """State of the phase's optimizer."""
    rng: dict[str, Any]
    """filo.training.determinism.capture_rng_state() after the epoch."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """One record per completed epoch: phase, epoch, loss."""
    mlflow_run_id: str | None = None
    """The MLflow run this training logs to, reopened on resume."""


def save_training_state(state: TrainingState, path: str | os.PathLike) -> None:
    """Write `state` to `path` atomically (tensors moved to the CPU)."""
    payload = seal({
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "fingerprint": state.fingerprint,
        "phase": state.phase,
        "epochs_done": state.epochs_done,
        "model": {key: value.detach().cpu() for key, value in state.model.items()},
        "optimizer": state.optimizer,
        "rng": state.rng,
        "history": state.history,
        "mlflow_run_id": state.mlflow_run_id,
    })
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def training_disk_estimate(trainable: dict[str, torch.Tensor]) -> int:
    """Bytes a training run with these trainable weights needs on disk at most: two state files and a checkpoint.

    A state file holds the weights and AdamW's two moments of each (3x their bytes); while it
    is replaced the old and the new one coexist; then the checkpoint (1x) is written.
    """
    weights = sum(tensor.numel() * tensor.element_size() for tensor in trainable.values())
    return 2 * 3 * weights + weights


def load_training_state(path: str | os.PathLike, fingerprint: dict[str, Any]) -> TrainingState:
    """Read a state file and check it belongs to a run with this `fingerprint`.

    Raises FiloError when the file is unreadable, not a training state, or was written by
    a run with other parameters, model config or inputs (naming what differs).
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt/foreign files
        raise FiloError(
            f"training state {path} cannot be read ({type(error).__name__}: {error}); "
            f"delete {path.parent} to train from scratch"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise FiloError(f"{path} is not a filo training state; delete {path.parent} to train from scratch")
    if payload.get("version") != STATE_VERSION:
        raise FiloError(f"training state {path} has version {payload.get('version')}, this filo reads "
                        f"{STATE_VERSION}; delete {path.parent} to train from scratch")
    payload = verify(payload, path, what="training state",
                     hint=f"delete {path.parent} to train from scratch (or resume from a good copy)")
    differences = describe_differences(payload["fingerprint"], fingerprint)
    if differences:
        raise FiloError(
            f"cannot resume from {path}: it was written by a run with different "
            f"{'; '.join(differences)}. Restore those inputs/parameters, or drop --resume "
            f"(or delete {path.parent}) to train from scratch"
        )
    return TrainingState(
        fingerprint=payload["fingerprint"],
        phase=payload["phase"],
        epochs_done=payload["epochs_done"],
        model=payload["model"],
        optimizer=payload["optimizer"],
        rng=payload["rng"],
        history=payload["history"],
        mlflow_run_id=payload["mlflow_run_id"],
    )


def describe_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable `key: saved → current` lines for every leaf that differs between two nested dicts."""
    lines = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            lines += describe_differences(old, new, prefix=f"{prefix}{key}.")
        elif old != new:
            lines.append(f"{prefix}{key}: {old!r} → {new!r}")
    return lines
