"""Heat-map overlays: the image as the model saw it, with its anomaly map blended on top.

The model's preprocessing (open_clip's eval transform: resize (squash or shorter side + centre crop),
to tensor, normalize) is split at the tensor conversion, so the overlay shows exactly the
pixels the anomaly map refers to.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from PIL import Image
from torchvision import transforms

from filo.io import atomic_write_bytes

if TYPE_CHECKING:
    import torch

OVERLAY_ALPHA = 0.5
"""Weight of the colour-mapped anomaly map in the blend (the image gets 1 - alpha)."""
COLORMAP = "jet"


@dataclass(frozen=True)
class ModelView:
    """The model's preprocessing split into the geometric part (PIL → PIL) and the rest (PIL → tensor)."""

    geometric: Callable[[Image.Image], Image.Image]
    to_tensor: Callable[[Image.Image], torch.Tensor]

    @classmethod
    def from_preprocess(cls, preprocess) -> ModelView:
        """Split a torchvision `Compose` before its first to-tensor step."""
        steps = list(preprocess.transforms)
        split = next((i for i, step in enumerate(steps) if "ToTensor" in type(step).__name__), None)
        if split is None:
            raise ValueError(f"preprocessing {preprocess} has no to-tensor step to split at")
        return cls(transforms.Compose(steps[:split]), transforms.Compose(steps[split:]))


def overlay_image(view: Image.Image, anomaly_map: np.ndarray, *, alpha: float = OVERLAY_ALPHA) -> Image.Image:
    """Blend the colour-mapped `anomaly_map` (values in [0, 1], clipped) over `view` (same size)."""
    values = np.clip(np.asarray(anomaly_map, dtype=np.float32), 0.0, 1.0)
    if values.shape != (view.height, view.width):
        raise ValueError(f"anomaly map {values.shape} does not match the image {(view.height, view.width)}")
    colours = (colormaps[COLORMAP](values)[..., :3] * 255.0).astype(np.float32)
    blended = (1.0 - alpha) * np.asarray(view.convert("RGB"), dtype=np.float32) + alpha * colours
    return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8))


def overlay_path(out_dir: str | os.PathLike, image_path: str | os.PathLike) -> Path:
    """Where the overlay of `image_path` goes: its stem plus a hash of its absolute path (no collisions)."""
    source = Path(image_path)
    digest = hashlib.sha256(str(source.resolve()).encode("utf-8")).hexdigest()[:10]
    return Path(out_dir) / f"{source.stem}.{digest}.heatmap.png"


def write_overlay(path: str | os.PathLike, view: Image.Image, anomaly_map: np.ndarray) -> Path:
    """Write the overlay PNG atomically; return its path."""
    buffer = io.BytesIO()
    overlay_image(view, anomaly_map).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
