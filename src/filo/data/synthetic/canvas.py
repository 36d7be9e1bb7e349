"""Drawing primitives shared by the synthetic textures, objects and defects.

Everything works on float32 RGB arrays of shape (H, W, 3) with values in [0, 1]
and boolean masks of shape (H, W). Coordinates are "normalized units": the image
spans [-1, 1] on both axes, so shapes scale with the image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    """A rendered normal sample.

    `image` is what the camera sees, `foreground` marks the inspected surface (the
    whole image for textures, the part for objects) and `background` is what shows
    through where the surface is missing (table for objects, backing for textures).
    """

    image: np.ndarray
    foreground: np.ndarray
    background: np.ndarray


def pose_coordinates(
    size: int, rng: np.random.Generator, *, max_shift: float, max_rotation_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized (u, v) coordinates of every pixel after a random small shift and rotation.

    Rendering a pattern as a function of (u, v) instead of (x, y) moves and turns it,
    which is the pose variation between normal samples.
    """
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    shift_x, shift_y = rng.uniform(-max_shift, max_shift, size=2)
    angle = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg))
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    x, y = x - np.float32(shift_x), y - np.float32(shift_y)
    return cos * x + sin * y, -sin * x + cos * y


def smooth_noise(
    shape: tuple[int, int], rng: np.random.Generator, sigma_px: float | tuple[float, float]
) -> np.ndarray:
    """Low-frequency noise field with zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_px, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-8)


def jitter_color(base: Color, rng: np.random.Generator, amount: float) -> np.ndarray:
    """`base` with a random overall brightness change and a smaller per-channel tint."""
    brightness = rng.uniform(1.0 - amount, 1.0 + amount)
    tint = rng.uniform(1.0 - amount / 2, 1.0 + amount / 2, size=3)
    return np.clip(np.asarray(base, dtype=np.float32) * brightness * tint, 0.0, 1.0).astype(np.float32)


def sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add per-pixel Gaussian noise (the camera's grain) and clip to [0, 1]."""
    return np.clip(image + rng.normal(0.0, sigma, image.shape).astype(np.float32), 0.0, 1.0)


def coverage(signed_distance_px: np.ndarray) -> np.ndarray:
    """Anti-aliased inside-ness in [0, 1] from a signed distance in pixels (negative = inside)."""
    return np.clip(0.5 - signed_distance_px, 0.0, 1.0).astype(np.float32)


def flat(size: int, color: np.ndarray) -> np.ndarray:
    """An image filled with one colour."""
    return np.broadcast_to(np.asarray(color, dtype=np.float32), (size, size, 3)).copy()


def blend(below: np.ndarray, above: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Alpha-composite `above` over `below` with a per-pixel alpha of shape (H, W)."""
    return below * (1.0 - alpha[..., None]) + above * alpha[..., None]


def polyline_distance(size: int, points: np.ndarray) -> np.ndarray:
    """Distance in pixels from every pixel to a densely sampled curve given as (N, 2) (row, col) points."""
    hit = np.zeros((size, size), dtype=bool)
    rows = np.clip(np.round(points[:, 0]).astype(int), 0, size - 1)
    cols = np.clip(np.round(points[:, 1]).astype(int), 0, size - 1)
    inside = (points[:, 0] >= 0) & (points[:, 0] < size) & (points[:, 1] >= 0) & (points[:, 1] < size)
    hit[rows[inside], cols[inside]] = True
    if not hit.any():
        return np.full((size, size), np.inf, dtype=np.float32)
    return ndimage.distance_transform_edt(~hit).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Quantize a [0, 1] float image to uint8 the way it is stored on disk."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
