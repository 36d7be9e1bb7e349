"""Procedural surface textures (fill the whole frame, like MVTec's carpet/wood/grid).

Each renderer draws one normal sample: the pattern is fixed for the category, and
colour, pose and noise vary between samples the way they do between photographs.
"""

from __future__ import annotations

import numpy as np

from filo.data.synthetic.canvas import (
    Scene,
    flat,
    jitter_color,
    pose_coordinates,
    sensor_noise,
    smooth_noise,
)


def _texture_scene(image: np.ndarray, backing: np.ndarray, rng: np.random.Generator) -> Scene:
    size = image.shape[0]
    backing_image = sensor_noise(flat(size, backing), rng, 0.02)
    return Scene(
        image=sensor_noise(image, rng, 0.015), foreground=np.ones((size, size), bool), background=backing_image
    )


def woven_fabric(size: int, rng: np.random.Generator) -> Scene:
    """Plain-weave cloth: alternating warp and weft threads with rounded shading."""
    u, v = pose_coordinates(size, rng, max_shift=0.2, max_rotation_deg=4.0)
    period = np.float32(0.14 * rng.uniform(0.95, 1.05))
    cell_u, cell_v = np.floor(u / period), np.floor(v / period)
    across_u = (u / period - cell_u) - 0.5
    across_v = (v / period - cell_v) - 0.5
    warp_on_top = (cell_u + cell_v) % 2 == 0
    shade = np.where(warp_on_top, np.cos(np.pi * across_u), np.cos(np.pi * across_v)) ** 0.6
    warp = jitter_color((0.76, 0.68, 0.54), rng, 0.08)
    weft = warp * np.float32(0.9)
    thread = np.where(warp_on_top[..., None], warp, weft)
    fibres = 0.03 * smooth_noise((size, size), rng, 0.8)
    image = thread * (0.62 + 0.38 * shade[..., None]) + fibres[..., None]
    return _texture_scene(image, jitter_color((0.2, 0.18, 0.16), rng, 0.1), rng)


def speckle_stone(size: int, rng: np.random.Generator) -> Scene:
    """Terrazzo-like grey stone: cloudy base with fine light and dark grains."""
    base = jitter_color((0.56, 0.55, 0.52), rng, 0.08)
    clouds = 0.05 * smooth_noise((size, size), rng, size / 16)
    grains = rng.random((size, size)) < 0.05
    grain_sign = np.where(rng.random((size, size)) < 0.5, -1.0, 1.0).astype(np.float32)
    image = base * (1.0 + clouds[..., None]) + (0.09 * grains * grain_sign)[..., None]
    return _texture_scene(image, jitter_color((0.12, 0.12, 0.13), rng, 0.1), rng)


def wood_grain(size: int, rng: np.random.Generator) -> Scene:
    """Planed wood: wavy growth rings across the board with fine streaks along it."""
    _u, v = pose_coordinates(size, rng, max_shift=0.3, max_rotation_deg=5.0)
    warp = 0.12 * smooth_noise((size, size), rng, size / 6)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (v * 4.0 * rng.uniform(0.9, 1.1) + warp))
    rings = rings**2
    streaks = 0.03 * smooth_noise((size, size), rng, (0.6, size / 10))
    light = jitter_color((0.8, 0.62, 0.42), rng, 0.08)
    dark = light * np.float32(0.78)
    image = light * (1 - rings[..., None]) + dark * rings[..., None] + streaks[..., None]
    return _texture_scene(image, jitter_color((0.18, 0.12, 0.08), rng, 0.1), rng)


def grid_mesh(size: int, rng: np.random.Generator) -> Scene:
    """Woven metal mesh: bright wires in a square grid over a dark gap."""
    u, v = pose_coordinates(size, rng, max_shift=0.2, max_rotation_deg=4.0)
    period = np.float32(0.2 * rng.uniform(0.96, 1.04))
    across_u = np.abs((u / period) % 1.0 - 0.5)
    across_v = np.abs((v / period) % 1.0 - 0.5)
    half_wire = 0.13
    wire_u = np.clip((half_wire - across_u) * period * size / 2 + 0.5, 0, 1)
    wire_v = np.clip((half_wire - across_v) * period * size / 2 + 0.5, 0, 1)
    wire = np.maximum(wire_u, wire_v)
    metal = jitter_color((0.72, 0.73, 0.76), rng, 0.07)
    gap = jitter_color((0.16, 0.16, 0.18), rng, 0.1)
    sheen = 0.04 * smooth_noise((size, size), rng, size / 12)
    image = gap * (1 - wire[..., None]) + metal * wire[..., None] * (1 + sheen[..., None])
    return _texture_scene(image, jitter_color((0.05, 0.05, 0.06), rng, 0.1), rng)
