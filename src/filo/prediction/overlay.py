"""Heat-map overlays over the original photo, at its resolution, and the raw maps for downstream tools.

The model's preprocessing (open_clip's eval transform: resize (squash or shorter side + centre crop),
to tensor, normalize) is split at the tensor conversion (`ModelView`); the map the model
returns is put back onto the original image by `filo.prediction.geometry.MapGeometry`, and
`overlay_image` blends it there (pixels the model never saw keep the photo's colours).
Grounding DINO boxes are drawn in original-image pixels.

Raw maps (optional): ``npy`` saves the float32 map over the original image (NaN where the
model saw nothing); ``png16`` a 16-bit greyscale PNG of the map clipped to [0, 1] times
65535 (0 where the model saw nothing).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw
from torchvision import transforms

from filo.io import atomic_write_bytes

if TYPE_CHECKING:
    import torch

OVERLAY_ALPHA = 0.5
"""Weight of the colour-mapped anomaly map in the blend (the image gets 1 - alpha)."""
COLORMAP = "jet"
BOX_COLOUR = (255, 255, 255)
RAW_MAP_FORMATS = ("npy", "png16")
_RAW_MAP_SUFFIXES = {"npy": ".map.npy", "png16": ".map.png"}


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


def overlay_image(
    photo: Image.Image,
    anomaly_map: np.ndarray,
    *,
    boxes: Sequence[Sequence[float]] = (),
    alpha: float = OVERLAY_ALPHA,
) -> Image.Image:
    """Blend the colour-mapped `anomaly_map` (same size as `photo`; values clipped to [0, 1], NaN: not
    blended) over `photo`, then outline each (x0, y0, x1, y1) box given in `photo`'s pixels."""
    raw = np.asarray(anomaly_map, dtype=np.float32)
    if raw.shape != (photo.height, photo.width):
        raise ValueError(f"anomaly map {raw.shape} does not match the image {(photo.height, photo.width)}")
    seen = ~np.isnan(raw)
    colours = (colormaps[COLORMAP](np.clip(np.nan_to_num(raw), 0.0, 1.0))[..., :3] * 255.0).astype(np.float32)
    pixels = np.asarray(photo.convert("RGB"), dtype=np.float32)
    weight = np.where(seen, alpha, 0.0)[..., None]
    blended = Image.fromarray(np.clip(np.rint((1.0 - weight) * pixels + weight * colours), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(blended)
    line = max(1, round(min(photo.size) / 200))
    for box in boxes:
        draw.rectangle([float(v) for v in box], outline=BOX_COLOUR, width=line)
    return blended


def png_bytes(image: Image.Image) -> bytes:
    """`image` encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def overlay_path(out_dir: str | os.PathLike, image_path: str | os.PathLike) -> Path:
    """Where the overlay of `image_path` goes: its stem plus a hash of its absolute path (no collisions)."""
    source = Path(image_path)
    digest = hashlib.sha256(str(source.resolve()).encode("utf-8")).hexdigest()[:10]
    return Path(out_dir) / f"{source.stem}.{digest}.heatmap.png"


def write_overlay(
    path: str | os.PathLike, photo: Image.Image, anomaly_map: np.ndarray, *, boxes: Sequence[Sequence[float]] = ()
) -> Path:
    """Write the overlay PNG atomically; return its path."""
    atomic_write_bytes(path, png_bytes(overlay_image(photo, anomaly_map, boxes=boxes)))
    return Path(path)


def raw_map_path(overlay: str | os.PathLike, raw_format: str) -> Path:
    """Where the raw map goes: next to its overlay, ``<stem>.<hash>.map.npy`` or ``.map.png``."""
    if raw_format not in RAW_MAP_FORMATS:
        raise ValueError(f"raw map format must be one of {RAW_MAP_FORMATS}, got {raw_format!r}")
    overlay = Path(overlay)
    return overlay.with_name(overlay.name.removesuffix(".heatmap.png") + _RAW_MAP_SUFFIXES[raw_format])


def raw_map_bytes(anomaly_map: np.ndarray, raw_format: str) -> bytes:
    """The map encoded as `raw_format` (see the module docstring)."""

    values = np.asarray(anomaly_map, dtype=np.float32)
    if raw_format == "npy":
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        return buffer.getvalue()
    if raw_format == "png16":
        levels = np.rint(np.clip(np.nan_to_num(values), 0.0, 1.0) * 65535.0).astype(np.uint16)
        return png_bytes(Image.fromarray(levels))
    raise ValueError(f"raw map format must be one of {RAW_MAP_FORMATS}, got {raw_format!r}")


def write_raw_map(path: str | os.PathLike, anomaly_map: np.ndarray, raw_format: str) -> Path:
    """Write the raw map atomically; return its path."""
    atomic_write_bytes(path, raw_map_bytes(anomaly_map, raw_format))
    return Path(path)
