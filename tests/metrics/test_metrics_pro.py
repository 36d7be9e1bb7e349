"""AUPRO: exact official definition and the FiLo authors' variant, against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from metric_references import authors_aupro, blob_masks, noisy_maps, official_aupro
from scipy import ndimage

from filo.metrics import compute_pixel_metrics
from filo.metrics.pro import trapezoid_up_to


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("decimals", [None, 2])
@pytest.mark.parametrize("limit", [0.3, 0.05, 1.0])
def test_official_aupro_matches_brute_force(seed: int, decimals: int | None, limit: float) -> None:
    rng = np.random.default_rng(seed)
    masks = blob_masks(rng, 6, 20)
    maps = noisy_maps(rng, masks, decimals)
    result = compute_pixel_metrics(masks, maps, pro_fpr_limit=limit, chunk_pixels=400, progress=False)
    assert result["pixel_aupro"] == pytest.approx(official_aupro(masks, maps, limit), abs=1e-9)


def test_regions_are_eight_connected() -> None:
    masks = np.zeros((1, 9, 9), dtype=bool)
    masks[0, 1, 1] = masks[0, 2, 2] = True  # diagonal neighbours: one region with 8-connectivity
    masks[0, 6, 6] = True
    maps = np.random.default_rng(0).random((1, 9, 9)) * 0.5
    maps[0, 1, 1], maps[0, 2, 2], maps[0, 6, 6] = 0.99, 0.1, 0.2
    value = compute_pixel_metrics(masks, maps, progress=False)["pixel_aupro"]
    four_connected = ndimage.generate_binary_structure(2, 1)
    assert value == pytest.approx(official_aupro(masks, maps), abs=1e-12)
    assert value != pytest.approx(official_aupro(masks, maps, structure=four_connected), abs=1e-3)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_authors_variant_matches_its_definition(seed: int, dtype: type) -> None:
    rng = np.random.default_rng(seed)
    masks = blob_masks(rng, 5, 20)
    maps = noisy_maps(rng, masks).astype(dtype)
    result = compute_pixel_metrics(masks, maps, chunk_pixels=300, progress=False)
    assert result["pixel_aupro_authors"] == pytest.approx(authors_aupro(masks, maps), abs=1e-12)


def test_authors_variant_undefined_when_almost_every_threshold_exceeds_the_fpr_limit() -> None:
    masks = np.zeros((2, 10, 10), dtype=bool)
    masks[0, :3, :3] = True
    maps = np.zeros((2, 10, 10))
    maps[0, 0, 0] = 1.0  # every threshold but the top ones leaves most normal pixels below it
    maps[1] = np.linspace(0.99, 1.0, 100).reshape(10, 10)
    with pytest.warns(UserWarning, match="fewer than two"):
        result = compute_pixel_metrics(masks, maps, progress=False)
    assert "fewer than two" in result.undefined["pixel_aupro_authors"]


def test_trapezoid_interpolates_at_the_limit() -> None:
    x = np.array([0.0, 0.2, 0.2, 0.6, 1.0])
    y = np.array([0.0, 0.4, 0.6, 1.0, 1.0])
    # 0..0.2 under the ramp: 0.04; 0.2..0.3 from 0.6 to 0.7: 0.065
    assert trapezoid_up_to(x, y, 0.3) == pytest.approx(0.105)
    assert trapezoid_up_to(x, y, 1.0) == pytest.approx(np.trapezoid(y, x))
