"""The one place that turns a device setting ("auto", None, "cpu", "cuda", "cuda:1") into a torch device name."""

from __future__ import annotations

import torch

from filo.errors import FiloError

AUTO = "auto"
"""CUDA when torch sees a CUDA device, else CPU (None and "" mean the same)."""


def resolve_device(device: str | None = AUTO) -> str:
    """The torch device name to run on.

    "auto", None or "" pick "cuda" when available, else "cpu". Any other value must be a
    device torch knows; asking for CUDA (or a CUDA index) that this machine lacks is a
    FiloError instead of a failure deep inside the first forward pass.
    """
    if device is None or device == "" or device == AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise FiloError(f"unknown device {device!r} ({error}); use 'auto', 'cpu', 'cuda' or 'cuda:N'") from error
    if parsed.type == "cuda":
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == 0:
            raise FiloError(f"device {device!r} was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
        if parsed.index is not None and parsed.index >= available:
            raise FiloError(
                f"device {device!r} was asked for but torch sees only {available} CUDA device(s) "
                f"(cuda:0..cuda:{available - 1})"
            )
    return device
