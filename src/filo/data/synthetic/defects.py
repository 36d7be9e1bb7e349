"""Defect painters and the exact ground-truth mask of what they changed.

A painter takes a normal `Scene` and returns the damaged float image plus the
region it may have touched. `paint_defect` quantizes both images like the PNG on
disk, keeps only the pixels whose colour changed by at least `MIN_CHANGE` grey
levels and reverts the rest, so the saved mask is exactly the set of changed
pixels. Sizes are drawn per defect so masks cover roughly 0.5-10 % of the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from filo.data.synthetic.canvas import Scene, blend, coverage, flat, polyline_distance, to_uint8

DEFECT_TYPES = ("scratch", "crack", "hole", "stain", "missing_piece", "contamination")
#: A pixel belongs to the mask when some channel changed by at least this many grey levels.
MIN_CHANGE = 12
#: Smallest acceptable mask, as a fraction of the image; smaller draws are repainted.
MIN_AREA_FRACTION = 0.004
_MAX_ATTEMPTS = 30

_STAIN_COLORS = ((0.45, 0.3, 0.12), (0.15, 0.13, 0.1), (0.62, 0.28, 0.1), (0.3, 0.45, 0.12), (0.15, 0.2, 0.58))
_DEBRIS_COLORS = ((0.06, 0.06, 0.06), (0.15, 0.3, 0.85), (0.95, 0.95, 0.97), (0.6, 0.15, 0.5), (0.1, 0.6, 0.2))


@dataclass(frozen=True)
class DefectSample:
    """A damaged image (uint8 HxWx3), the normal image it was painted on, and its boolean mask."""

    image: np.ndarray
    clean: np.ndarray
    mask: np.ndarray


Painter = Callable[[Scene, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _scale(scene: Scene) -> float:
    """Pixel lengths are tuned for 128-pixel images and scale with the image size."""
    return scene.image.shape[0] / 128.0


def _anchor(scene: Scene, rng: np.random.Generator, margin_px: float) -> np.ndarray:
    """A random (row, col) on the inspected surface, at least `margin_px` inside it where possible."""
    region = scene.foreground
    iterations = int(margin_px)
    if iterations > 0:
        eroded = ndimage.binary_erosion(region, iterations=iterations, border_value=0)
        region = eroded if eroded.any() else region
    rows, cols = np.nonzero(region)
    pick = rng.integers(len(rows))
    return np.array([rows[pick], cols[pick]], dtype=np.float32)


def _distance_and_angle(size: int, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.hypot(rows - center[0], cols - center[1]), np.arctan2(rows - center[0], cols - center[1])


def _irregular_radius(angle: np.ndarray, radius: float, rng: np.random.Generator, roughness: float) -> np.ndarray:
    """A radius that wobbles with the angle, so blobs are not perfect discs."""
    wobble = np.zeros_like(angle)
    for harmonic in (2, 3, 5):
        wobble += rng.uniform(0, roughness) * np.cos(harmonic * angle + rng.uniform(0, 2 * np.pi))
    return radius * (1.0 + wobble)


def _distinct_color(scene: Scene, palette: tuple, rng: np.random.Generator) -> np.ndarray:
    """A palette colour far from the surface's mean colour (a foreign colour, not a shade of it)."""
    surface = scene.image[scene.foreground].mean(axis=0)
    colors = np.asarray(palette, dtype=np.float32)
    far = colors[np.linalg.norm(colors - surface, axis=1) > 0.35]
    choices = far if len(far) else colors
    return choices[rng.integers(len(choices))]


def scratch(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin, slightly curved bright or dark line."""
    size, scale = scene.image.shape[0], _scale(scene)
    center = _anchor(scene, rng, 6 * scale)
    length = rng.uniform(0.3, 0.7) * size
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)], dtype=np.float32)
    normal = np.array([direction[1], -direction[0]])
    t = np.linspace(-0.5, 0.5, int(length * 3))[:, None]
    bend = rng.uniform(-0.12, 0.12) * length
    points = center + t * length * direction + (1 - 4 * t**2) * bend * normal
    width = rng.uniform(0.8, 1.5) * scale
    alpha = coverage(polyline_distance(size, points) - width) * scene.foreground
    tone = 0.95 if rng.random() < 0.5 else 0.06
    damaged = blend(scene.image, flat(size, np.full(3, tone)), alpha * rng.uniform(0.75, 0.95))
    return damaged, alpha > 0


def _random_walk(
    start: np.ndarray, heading: float, steps: int, rng: np.random.Generator, step_px: float
) -> np.ndarray:
    headings = heading + np.cumsum(rng.normal(0.0, 0.22, steps))
    moves = np.stack([np.sin(headings), np.cos(headings)], axis=1) * step_px
    return start + np.cumsum(moves, axis=0)


def crack(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark fissure that wanders and splits into a few branches."""
    size, scale = scene.image.shape[0], _scale(scene)
    step = 0.7
    steps = int(rng.uniform(0.3, 0.6) * size / step)
    trunk = _random_walk(_anchor(scene, rng, 8 * scale), rng.uniform(0, 2 * np.pi), steps, rng, step)
    branches = [trunk]
    for _ in range(rng.integers(1, 4)):
        fork = trunk[rng.integers(steps // 5, steps)]
        heading = rng.uniform(0, 2 * np.pi)
        branches.append(_random_walk(fork, heading, int(steps * rng.uniform(0.2, 0.45)), rng, step))
    width = rng.uniform(0.6, 1.2) * scale
    alpha = coverage(polyline_distance(size, np.concatenate(branches)) - width) * scene.foreground
    damaged = scene.image * (1.0 - alpha * rng.uniform(0.65, 0.85))[..., None]
    return damaged, alpha > 0


def hole(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A roundish hole through the surface, showing what lies behind it in shadow."""
    size = scene.image.shape[0]
    radius = np.sqrt(rng.uniform(0.01, 0.05) * size * size / np.pi)
    distance, angle = _distance_and_angle(size, _anchor(scene, rng, radius))
    alpha = coverage(distance - _irregular_radius(angle, radius, rng, 0.08)) * scene.foreground
    damaged = blend(scene.image, scene.background * np.float32(0.7), alpha)
    return damaged, alpha > 0


def stain(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A soft, semi-transparent blob of a foreign colour (oil, rust, ink)."""
    size = scene.image.shape[0]
    radius = np.sqrt(rng.uniform(0.03, 0.09) * size * size / np.pi)
    distance, angle = _distance_and_angle(size, _anchor(scene, rng, radius / 2))
    edge = _irregular_radius(angle, radius, rng, 0.15)
    alpha = np.clip((edge - distance) / (0.4 * radius), 0.0, 1.0) * scene.foreground
    luminance = scene.image.mean(axis=2, keepdims=True)
    tint = _distinct_color(scene, _STAIN_COLORS, rng) * (0.7 + 0.3 * luminance)
    damaged = blend(scene.image, tint, alpha * rng.uniform(0.5, 0.8))
    return damaged, alpha > 0


def missing_piece(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A chunk broken off at an edge of the part (or of the frame, for textures)."""
    size = scene.image.shape[0]
    edge = scene.foreground & ~ndimage.binary_erosion(scene.foreground, border_value=0)
    rows, cols = np.nonzero(edge)
    pick = rng.integers(len(rows))
    radius = np.sqrt(2 * rng.uniform(0.02, 0.07) * size * size / np.pi)
    distance, angle = _distance_and_angle(size, np.array([rows[pick], cols[pick]], dtype=np.float32))
    alpha = coverage(distance - _irregular_radius(angle, radius, rng, 0.12)) * scene.foreground
    return blend(scene.image, scene.background, alpha), alpha > 0


def contamination(scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A cluster of foreign particles and fibres of a colour the surface never has."""
    size, scale = scene.image.shape[0], _scale(scene)
    spread = np.sqrt(rng.uniform(0.02, 0.06) * size * size / np.pi)
    center = _anchor(scene, rng, spread / 2)
    alpha = np.zeros((size, size), dtype=np.float32)
    for _ in range(rng.integers(10, 26)):
        distance, _angle = _distance_and_angle(size, center + rng.normal(0.0, spread / 2, 2))
        alpha = np.maximum(alpha, coverage(distance - rng.uniform(1.0, 2.6) * scale))
    for _ in range(rng.integers(1, 4)):
        fibre = _random_walk(center + rng.normal(0.0, spread / 2, 2), rng.uniform(0, 2 * np.pi),
                             int(rng.uniform(0.08, 0.18) * size / 0.7), rng, 0.7)
        alpha = np.maximum(alpha, coverage(polyline_distance(size, fibre) - 0.6 * scale))
    alpha = alpha * scene.foreground
    damaged = blend(scene.image, flat(size, _distinct_color(scene, _DEBRIS_COLORS, rng)), alpha)
    return damaged, alpha > 0


PAINTERS: dict[str, Painter] = {
    "scratch": scratch,
    "crack": crack,
    "hole": hole,
    "stain": stain,
    "missing_piece": missing_piece,
    "contamination": contamination,
}


def paint_defect(scene: Scene, defect_type: str, rng: np.random.Generator) -> DefectSample:
    """Paint one defect of `defect_type` on `scene` and return the image with its exact mask."""
    clean = to_uint8(scene.image)
    for _ in range(_MAX_ATTEMPTS):
        changed, region = PAINTERS[defect_type](scene, rng)
        damaged = to_uint8(changed)
        change = np.abs(damaged.astype(np.int16) - clean.astype(np.int16)).max(axis=2)
        mask = region & (change >= MIN_CHANGE)
        if mask.mean() >= MIN_AREA_FRACTION:
            return DefectSample(image=np.where(mask[..., None], damaged, clean), clean=clean, mask=mask)
    raise RuntimeError(f"could not paint a visible {defect_type!r} defect in {_MAX_ATTEMPTS} attempts")
