"""Numeric precision of a forward pass: fp32, or bf16 autocast (one definition for training, evaluation, benchmarks)."""

from __future__ import annotations

import contextlib

import torch

from filo.errors import FiloError

PRECISIONS = ("fp32", "bf16")


def autocast(device: str | torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device`'s type for "bf16" (CPU too, e.g. to measure its effect); nothing for "fp32"."""
    if precision not in PRECISIONS:
        raise FiloError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def amp_precision(amp: bool) -> str:
    """The precision of the `amp` switch of training and evaluation: bf16 autocast on the run's device (CUDA or
    CPU) when on, fp32 when off (the authors' precision, the default)."""
    return "bf16" if amp else "fp32"
