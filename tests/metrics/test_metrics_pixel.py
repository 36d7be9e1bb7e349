"""Pixel metrics equal scikit-learn over many maps, stream in chunks, and handle edge cases."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
from metric_references import blob_masks, f1_max, noisy_maps, official_aupro
from sklearn.metrics import average_precision_score, roc_auc_score

from filo.errors import FiloError
from filo.metrics import UndefinedMetricWarning, compute_pixel_metrics

KEYS = {"pixel_auroc", "pixel_ap", "pixel_f1_max", "pixel_aupro", "pixel_aupro_authors"}


def _sklearn_values(masks: np.ndarray, maps: np.ndarray) -> dict[str, float]:
    labels, scores = masks.ravel(), maps.ravel()
    return {
        "pixel_auroc": roc_auc_score(labels, scores),
        "pixel_ap": average_precision_score(labels, scores),
        "pixel_f1_max": f1_max(labels, scores),
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("decimals", [None, 2])
@pytest.mark.parametrize("chunk_pixels", [1, 500, 1 << 22])
def test_exact_values_equal_scikit_learn(seed: int, decimals: int | None, chunk_pixels: int) -> None:
    rng = np.random.default_rng(seed)
    masks = blob_masks(rng, 7, 24)
    maps = noisy_maps(rng, masks, decimals)
    result = compute_pixel_metrics(masks, maps, chunk_pixels=chunk_pixels, progress=False)
    assert set(result) == KEYS
    for key, expected in _sklearn_values(masks, maps).items():
        assert result[key] == pytest.approx(expected, abs=1e-10), key


@pytest.mark.parametrize("chunk_pixels", [100, 1 << 22])
def test_signed_maps_spanning_many_exponents_equal_scikit_learn(chunk_pixels: int) -> None:
    """Wide key spans force coarse buckets and binary searches; zeros of both signs must tie."""
    rng = np.random.default_rng(8)
    masks = blob_masks(rng, 6, 24)
    maps = (rng.normal(size=masks.shape) * 10.0 ** rng.integers(-20, 20, masks.shape) + 5.0 * masks)
    maps[:, :3] = np.round(maps[:, :3], 1)  # many ties, including 0.0 and -0.0
    maps = maps.astype(np.float32)
    result = compute_pixel_metrics(masks, maps, chunk_pixels=chunk_pixels, progress=False)
    for key, expected in _sklearn_values(masks, maps).items():
        assert result[key] == pytest.approx(expected, abs=1e-10), key
    assert result["pixel_aupro"] == pytest.approx(official_aupro(masks, maps), abs=1e-9)


def test_maps_of_mixed_float_dtypes_are_counted_in_float64() -> None:
    rng = np.random.default_rng(9)
    masks = blob_masks(rng, 3, 20)
    maps = noisy_maps(rng, masks)
    mixed = [maps[0].astype(np.float16), maps[1], maps[2].astype(np.float64) + 1e-12]
    result = compute_pixel_metrics(masks, mixed, chunk_pixels=300, progress=False)
    as_float64 = np.stack([anomaly_map.astype(np.float64) for anomaly_map in mixed])
    for key, expected in _sklearn_values(masks, as_float64).items():
        assert result[key] == pytest.approx(expected, abs=1e-12), key


def test_sequences_of_differently_sized_maps_are_accepted() -> None:
    rng = np.random.default_rng(1)
    masks = [blob_masks(rng, 2, size)[1] for size in (16, 30, 21)]
    maps = [noisy_maps(rng, mask[None])[0] for mask in masks]
    result = compute_pixel_metrics(masks, maps, chunk_pixels=300, progress=False)
    flat_masks = np.concatenate([mask.ravel() for mask in masks])
    flat_maps = np.concatenate([anomaly_map.ravel() for anomaly_map in maps])
    assert result["pixel_auroc"] == pytest.approx(roc_auc_score(flat_masks, flat_maps), abs=1e-12)


def test_integer_masks_and_float64_maps_work_like_bool_and_float32() -> None:
    rng = np.random.default_rng(2)
    masks = blob_masks(rng, 4, 20)
    maps = noisy_maps(rng, masks, decimals=3)
    as_bool = compute_pixel_metrics(masks, maps, progress=False)
    as_numbers = compute_pixel_metrics(masks.astype(np.uint8), maps.astype(np.float64), progress=False)
    assert as_numbers == pytest.approx(as_bool, abs=1e-12)


def test_binned_metrics_equal_scikit_learn_on_the_binned_scores() -> None:
    rng = np.random.default_rng(4)
    masks = blob_masks(rng, 5, 24)
    maps = noisy_maps(rng, masks).astype(np.float64)
    bins = 16
    low, high = maps.min(), maps.max()
    binned = np.clip(np.floor((maps - low) * (bins / (high - low))), 0, bins - 1)
    result = compute_pixel_metrics(masks, maps, bins=bins, chunk_pixels=100, progress=False)
    for key, expected in _sklearn_values(masks, binned).items():
        assert result[key] == pytest.approx(expected, abs=1e-12), key
    assert result["pixel_auroc"] != pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-6)


def test_all_normal_masks_give_nan_with_reasons() -> None:
    masks = np.zeros((3, 8, 8), dtype=bool)
    with pytest.warns(UndefinedMetricWarning, match="no anomalous pixels"):
        result = compute_pixel_metrics(masks, np.random.default_rng(0).random((3, 8, 8)), progress=False)
    assert set(result) == KEYS and all(math.isnan(value) for value in result.values())
    assert set(result.undefined) == KEYS


def test_constant_maps_keep_exact_metrics_but_not_the_authors_variant() -> None:
    masks = np.zeros((2, 10, 10), dtype=bool)
    masks[1, 2:5, 2:5] = True
    with pytest.warns(UndefinedMetricWarning, match="pixel_aupro_authors"):
        result = compute_pixel_metrics(masks, np.full((2, 10, 10), 0.3, np.float32), progress=False)
    prevalence = 9 / 200
    assert result["pixel_auroc"] == 0.5
    assert result["pixel_ap"] == pytest.approx(prevalence)
    assert result["pixel_f1_max"] == pytest.approx(2 * prevalence / (1 + prevalence))
    assert result["pixel_aupro"] == pytest.approx(0.15)  # the diagonal, integrated to 0.3, over 0.3
    assert "all map values are equal" in result.undefined["pixel_aupro_authors"]


def test_one_pixel_anomaly_found_first_gives_perfect_scores() -> None:
    masks = np.zeros((3, 12, 12), dtype=bool)
    masks[2, 5, 7] = True
    maps = np.random.default_rng(5).random((3, 12, 12)) * 0.5
    maps[2, 5, 7] = 0.9
    result = compute_pixel_metrics(masks, maps, progress=False)
    assert result["pixel_auroc"] == 1.0 and result["pixel_ap"] == 1.0 and result["pixel_f1_max"] == 1.0
    assert result["pixel_aupro"] == pytest.approx(1.0)
    assert result.undefined == {}


def test_only_anomalous_pixels_leave_fpr_based_metrics_undefined() -> None:
    masks = np.ones((2, 4, 4), dtype=bool)
    with pytest.warns(UndefinedMetricWarning):
        result = compute_pixel_metrics(masks, np.random.default_rng(0).random((2, 4, 4)), progress=False)
    assert result["pixel_ap"] == 1.0
    assert {"pixel_auroc", "pixel_aupro", "pixel_aupro_authors"} == set(result.undefined)


def test_result_serialises_as_plain_json() -> None:
    rng = np.random.default_rng(6)
    masks = blob_masks(rng, 3, 16)
    result = compute_pixel_metrics(masks, noisy_maps(rng, masks), progress=False)
    assert json.loads(json.dumps(result)) == pytest.approx(dict(result))


@pytest.mark.parametrize(
    ("masks", "maps", "kwargs", "message"),
    [
        (np.zeros((2, 4, 4)), np.zeros((3, 4, 4)), {}, "2 masks but 3 anomaly maps"),
        (np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), {}, "nothing to evaluate"),
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 5)), {}, "mask 0 has shape"),
        (np.full((1, 4, 4), 0.5), np.zeros((1, 4, 4)), {}, "mask 0 must hold only 0"),
        (np.zeros((1, 4, 4)), np.full((1, 4, 4), np.nan), {}, "anomaly map 0 contains NaN"),
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), {"pro_fpr_limit": 0.0}, "pro_fpr_limit"),
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 4)), {"bins": 1}, "bins must be"),
        (np.zeros((1, 4, 4)), np.zeros((1, 4, 4), dtype=np.longdouble), {}, "convert them to float32 or float64"),
    ],
)
def test_bad_inputs_raise_a_clear_error(masks, maps, kwargs, message: str) -> None:
    with pytest.raises(FiloError, match=message):
        compute_pixel_metrics(masks, maps, progress=False, **kwargs)


def test_memory_stays_far_below_a_copy_of_the_maps() -> None:
    rng = np.random.default_rng(7)
    masks = np.zeros((80, 128, 128), dtype=bool)
    masks[1::2, 40:52, 60:70] = True
    maps = noisy_maps(rng, masks)
    tracemalloc.start()
    try:
        compute_pixel_metrics(masks, maps, chunk_pixels=8192, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * maps.nbytes
