"""Seeding, deterministic kernels and RNG snapshots, so a run and its resumption match exactly."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from filo.kernels import use_reproducible_kernels

_CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (CUDA included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def use_deterministic_kernels(enabled: bool) -> None:
    """Ask torch for deterministic kernels; ops without one only warn (some CUDA backwards).

    Enabled, it also computes with the thread count and CPU kernels of every stage (`filo.kernels`).
    """
    if enabled:
        use_reproducible_kernels()
    if enabled and torch.cuda.is_available():
        os.environ.setdefault(_CUBLAS_WORKSPACE, ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.benchmark = not enabled


def _numpy_state() -> dict[str, Any]:
    """numpy's legacy global state with plain ints instead of an array (loadable with weights_only)."""
    state = np.random.get_state(legacy=False)
    state["state"] = {"key": [int(k) for k in state["state"]["key"]], "pos": int(state["state"]["pos"])}
    return state


def capture_rng_state() -> dict[str, Any]:
    """Snapshot of every global generator (python, numpy, torch CPU, each CUDA device)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back a `capture_rng_state` snapshot (the CUDA part only where CUDA is present)."""
    random.setstate(state["python"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {"key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32),
                            "pos": numpy_state["state"]["pos"]}
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
