"""From the model's square input back to the original photo: where an anomaly map lies on the image.

The model's preprocessing either squashes the whole image to a square ("squash") or resizes
its shorter side and crops the centre square ("shortest", which drops the borders of a
non-square image); see `FiLoConfig.resize_mode`. `MapGeometry` undoes that: it tells which
rectangle of the original image the map covers and resizes the map onto it, so a heat map
is shown over the photo the engineer knows, at its resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from filo.errors import FiloError
from filo.model.config import RESIZE_MODES, ResizeMode


@dataclass(frozen=True)
class MapGeometry:
    """The model's input geometry: a square of `size` pixels reached by `resize_mode`."""

    size: int
    resize_mode: ResizeMode = "squash"

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise FiloError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")
        if self.size < 1:
            raise FiloError(f"map size must be positive, got {self.size}")

    @classmethod
    def of_model(cls, config) -> MapGeometry:
        """The geometry of a `FiLoConfig` (its image_size and resize_mode)."""
        return cls(config.image_size, config.resize_mode)

    def region(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the original image, in its pixels, that the model's input shows.

        For "shortest" this follows torchvision: the shorter side becomes `size`, the longer
        ``int(size * long / short)``, and the centre crop starts at ``round((side - size) / 2)``.
        """
        if width < 1 or height < 1:
            raise FiloError(f"image size must be positive, got {width}x{height}")
        if self.resize_mode == "squash":
            return 0.0, 0.0, float(width), float(height)
        short, long = min(width, height), max(width, height)
        long_resized = int(self.size * long / short)
        resized_w, resized_h = (long_resized, self.size) if width >= height else (self.size, long_resized)
        left = round((resized_w - self.size) / 2.0)
        top = round((resized_h - self.size) / 2.0)
        scale_x, scale_y = width / resized_w, height / resized_h
        return left * scale_x, top * scale_y, (left + self.size) * scale_x, (top + self.size) * scale_y

    def to_original(self, anomaly_map: np.ndarray, width: int, height: int) -> np.ndarray:
        """The [height, width] float32 map over the original image: bilinear inside the covered region,
        NaN outside it (pixels the model never saw; only "shortest" leaves any)."""
        from PIL import Image

        values = np.asarray(anomaly_map, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"anomaly map must be 2-D, got shape {values.shape}")
        left, top, right, bottom = (round(v) for v in self.region(width, height))
        full = np.full((height, width), np.nan, dtype=np.float32)
        region_w, region_h = max(right - left, 1), max(bottom - top, 1)
        resized = Image.fromarray(values).resize((region_w, region_h), Image.Resampling.BILINEAR)
        full[top : top + region_h, left : left + region_w] = np.asarray(resized, dtype=np.float32)[
            : height - top, : width - left
        ]
        return full
