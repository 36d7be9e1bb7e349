"""Procedural parts on plain backgrounds (like MVTec's metal_nut/capsule or VisA's pcb).

Each renderer draws one normal sample: the part's design is fixed for the category;
colour, position, rotation, lighting and noise vary between samples.
"""

from __future__ import annotations

import numpy as np

from filo.data.synthetic.canvas import (
    Scene,
    blend,
    coverage,
    flat,
    jitter_color,
    pose_coordinates,
    sensor_noise,
    smooth_noise,
)

#: Copper traces of the board design, as (u0, v0, u1, v1) segments in board coordinates.
_TRACES = (
    (-0.62, -0.3, 0.1, -0.3),
    (0.1, -0.3, 0.1, 0.25),
    (-0.4, 0.0, -0.4, 0.4),
    (-0.4, 0.4, 0.55, 0.4),
    (0.35, -0.42, 0.35, 0.1),
    (0.35, 0.1, 0.62, 0.1),
)
#: Solder pads of the board design, as (u, v) centres.
_PADS = ((-0.62, -0.3), (0.62, 0.1), (0.55, 0.4), (0.35, -0.42), (-0.4, 0.0))


def _object_scene(
    size: int, part: np.ndarray, alpha: np.ndarray, background_color: np.ndarray, rng: np.random.Generator
) -> Scene:
    background = flat(size, background_color) * (1 + 0.02 * smooth_noise((size, size), rng, size / 4))[..., None]
    image = sensor_noise(blend(background, part, alpha), rng, 0.012)
    return Scene(image=image, foreground=alpha > 0.5, background=sensor_noise(background, rng, 0.012))


def _pixels(size: int) -> float:
    """Pixels per normalized unit."""
    return size / 2.0


def round_part(size: int, rng: np.random.Generator) -> Scene:
    """A turned metal washer: a disc with a centre bore, radial lighting and fine lathe rings."""
    u, v = pose_coordinates(size, rng, max_shift=0.06, max_rotation_deg=180.0)
    radius = np.hypot(u, v)
    outer, bore = 0.66 * rng.uniform(0.97, 1.03), 0.22
    alpha = coverage((radius - outer) * _pixels(size)) * coverage((bore - radius) * _pixels(size))
    metal = jitter_color((0.64, 0.62, 0.58), rng, 0.08)
    light = 0.82 + 0.12 * np.cos(np.arctan2(v, u) - rng.uniform(0, 2 * np.pi))
    rings = 0.025 * np.sin(radius * 90.0)
    part = metal * (light + rings)[..., None]
    return _object_scene(size, part, alpha, jitter_color((0.2, 0.21, 0.22), rng, 0.1), rng)


def _segment_distance(u: np.ndarray, v: np.ndarray, segment: tuple[float, float, float, float]) -> np.ndarray:
    u0, v0, u1, v1 = segment
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.hypot(u - (u0 + t * du), v - (v0 + t * dv))


def trace_board(size: int, rng: np.random.Generator) -> Scene:
    """A small green circuit board with copper traces and round solder pads."""
    u, v = pose_coordinates(size, rng, max_shift=0.05, max_rotation_deg=3.0)
    px = _pixels(size)
    board_distance = np.maximum(np.abs(u) - 0.8, np.abs(v) - 0.6)
    alpha = coverage(board_distance * px)
    trace_distance = np.min([_segment_distance(u, v, segment) for segment in _TRACES], axis=0)
    pad_distance = np.min([np.hypot(u - pu, v - pv) for pu, pv in _PADS], axis=0)
    copper_alpha = np.maximum(coverage((trace_distance - 0.035) * px), coverage((pad_distance - 0.08) * px))
    solder_mask = jitter_color((0.12, 0.42, 0.22), rng, 0.08)
    copper = jitter_color((0.82, 0.58, 0.3), rng, 0.06)
    board = flat(size, solder_mask) * (1 + 0.03 * smooth_noise((size, size), rng, 1.0))[..., None]
    part = blend(board, flat(size, copper), copper_alpha)
    return _object_scene(size, part, alpha, jitter_color((0.85, 0.85, 0.83), rng, 0.05), rng)


def capsule_blob(size: int, rng: np.random.Generator) -> Scene:
    """A two-coloured gel capsule lying on a tray, lit from above."""
    u, v = pose_coordinates(size, rng, max_shift=0.08, max_rotation_deg=10.0)
    half_length, radius = 0.45 * rng.uniform(0.97, 1.03), 0.3
    axis_distance = np.hypot(np.clip(np.abs(u) - half_length, 0.0, None), v)
    alpha = coverage((axis_distance - radius) * _pixels(size))
    relief = np.sqrt(np.clip(1.0 - (axis_distance / radius) ** 2, 0.0, 1.0))
    cap = jitter_color((0.78, 0.2, 0.18), rng, 0.06)
    body = jitter_color((0.92, 0.88, 0.74), rng, 0.04)
    shell = np.where((u < 0)[..., None], cap, body)
    part = shell * (0.55 + 0.45 * relief)[..., None]
    return _object_scene(size, part, alpha, jitter_color((0.3, 0.32, 0.36), rng, 0.08), rng)
