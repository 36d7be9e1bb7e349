"""Pixel-level metrics over many anomaly maps: AUROC, AP, F1-max, official and authors' AUPRO.

Exact and memory-bounded. Two passes over the images:

1. collect the anomalous (positive) pixels: their scores and PRO weights (from the
   8-connected ground-truth regions of each mask), plus the global min/max;
2. tally every pixel of the maps, in chunks of at least ``chunk_pixels``, against the
   distinct positive scores (exact metrics) and against the authors' thresholds, without
   sorting (``filo.metrics.tally``); the positives are then taken out of both tallies, so
   what remains counts the normal (negative) pixels and no map is ever masked or copied.

Peak extra memory is about ``50 bytes x anomalous pixels`` (scores, region index, PRO
weights, distinct values and their inverse index), the tallies' bucket tables (16 bytes
a bucket, no more buckets than pixels in a chunk, at most ``2**24``: what VisA-like float32
scores need to be counted without any sort) and ``~20 bytes x chunk`` of integer keys.
Maps and masks may be one (N, H, W) array or sequences of 2-D arrays (sizes may differ per image); scores are
counted as float32 when every map is float16/float32, else as float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from filo.errors import FiloError
from filo.metrics.counts import rank_counts, summarise_counts
from filo.metrics.pro import (
    MetricUndefined,
    authors_aupro,
    authors_thresholds,
    official_aupro,
)
from filo.metrics.results import MetricValues
from filo.metrics.tally import ThresholdTally, order_keys, round_down_to
from filo.metrics.validation import as_binary, as_scores

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
DEFAULT_CHUNK_PIXELS = 1 << 24  # bucket tables up to 2**24: see MAX_BUCKETS
MAX_BUCKETS = 1 << 24  # the exact tally's bucket table: VisA's float32 anomalous pixels span ~1.2e7 keys
AUTHORS_MAX_BUCKETS = 1 << 20  # ~200 thresholds: finer buckets would only save rare binary searches


@dataclass(frozen=True)
class PositivePixels:
    """Everything pass 1 keeps: anomalous pixel scores and PRO weights, global min/max.

    ``scores`` are in the dtype every map is counted in (float32 or float64); ``n_pixels``
    counts all pixels of all maps.
    ``pro_weight`` is ``1 / (number of regions x area of the pixel's region)``: summed over
    flagged pixels it gives the mean over regions of the flagged fraction (the PRO).
    """

    scores: np.ndarray
    pro_weight: np.ndarray
    score_min: np.generic
    score_max: np.generic
    n_pixels: int


def compute_pixel_metrics(
    masks: np.ndarray | Sequence[np.ndarray],
    maps: np.ndarray | Sequence[np.ndarray],
    *,
    pro_fpr_limit: float = 0.3,
    bins: int | None = None,
    chunk_pixels: int = DEFAULT_CHUNK_PIXELS,
    progress: bool = True,
) -> MetricValues:
    """Return ``pixel_auroc``, ``pixel_ap``, ``pixel_f1_max``, ``pixel_aupro``, ``pixel_aupro_authors``.

    `masks` are 0/1 (or bool) ground truths, `maps` the anomaly maps, image by image.
    Metrics are exact unless `bins` is given: then scores are first quantised into `bins`
    equal-width bins between the global min and max (faster, approximate). The authors'
    AUPRO always uses its own 200 thresholds. NaN values (e.g. no anomalous pixel) carry
    their reason in ``result.undefined``.
    """
    _check_arguments(masks, maps, pro_fpr_limit, bins)
    positives = _collect_positives(masks, maps, progress)
    quantised_positives = _quantise(positives.scores, positives, bins)
    distinct, distinct_index, positives_at = np.unique(
        quantised_positives, return_inverse=True, return_counts=True
    )
    # Bucket tables no bigger than a chunk: their memory and per-chunk cost stay within the chunk's own.
    table_limit = max(2, min(positives.n_pixels, chunk_pixels))
    exact_tally = ThresholdTally(distinct, max_buckets=min(MAX_BUCKETS, table_limit))
    thresholds = authors_thresholds(positives.score_min, positives.score_max)
    # A score s <= t (float64 t) exactly when s <= the largest score-dtype number <= t.
    authors_cuts, authors_index = np.unique(round_down_to(thresholds, positives.scores.dtype), return_inverse=True)
    authors_tally = ThresholdTally(authors_cuts, max_buckets=min(AUTHORS_MAX_BUCKETS, table_limit))
    for chunk in _map_chunks(maps, positives.scores.dtype, chunk_pixels, progress):
        keys = order_keys(chunk, nonnegative=positives.score_min >= 0)
        authors_tally.add_keys(keys)
        exact_tally.add_keys(keys if bins is None else order_keys(_quantise(chunk, positives, bins)))
    exact_tally.add(quantised_positives, weight=-1)  # what remains are the normal pixels
    authors_tally.add(positives.scores, weight=-1)

    counts = rank_counts(positives_at, exact_tally)
    authors_at_or_below, n_negative = authors_tally.counts()[1][authors_index], authors_tally.total
    del exact_tally, authors_tally  # frees the bucket tables before the curves are built

    result = summarise_counts(counts, prefix="pixel", unit="pixels")
    pro_weight_at = np.bincount(distinct_index, weights=positives.pro_weight, minlength=len(distinct))
    _set_or_explain(result, "pixel_aupro", lambda: official_aupro(counts, pro_weight_at, pro_fpr_limit))
    _set_or_explain(
        result,
        "pixel_aupro_authors",
        lambda: authors_aupro(thresholds, positives.scores, positives.pro_weight, authors_at_or_below,
                              n_negative, pro_fpr_limit),
    )
    return result


def _set_or_explain(result: MetricValues, key: str, compute: Callable[[], float]) -> None:
    """Store ``compute()`` under `key`, or NaN with the reason when the metric is undefined."""
    try:
        result.set(key, compute())
    except MetricUndefined as undefined:
        result.set_undefined(key, str(undefined))


def _check_arguments(masks, maps, pro_fpr_limit: float, bins: int | None) -> None:
    if len(masks) != len(maps):
        raise FiloError(f"got {len(masks)} masks but {len(maps)} anomaly maps; they must pair up one to one.")
    if len(masks) == 0:
        raise FiloError("no masks and maps were given: there is nothing to evaluate.")
    if not 0.0 < pro_fpr_limit <= 1.0:
        raise FiloError(f"pro_fpr_limit must be in (0, 1], got {pro_fpr_limit}.")
    if bins is not None and (int(bins) != bins or bins < 2):
        raise FiloError(f"bins must be an integer >= 2 (or None for exact metrics), got {bins}.")


def _checked_pairs(masks, maps, progress: bool, description: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (bool mask, float map) per image, raising FiloError naming the bad image."""
    for index in tqdm(range(len(masks)), desc=description, unit="map", disable=not progress, leave=False):
        mask = as_binary(masks[index], f"mask {index}")
        anomaly_map = as_scores(maps[index], f"anomaly map {index}")
        if mask.ndim != 2 or mask.shape != anomaly_map.shape:
            raise FiloError(
                f"mask {index} has shape {mask.shape} but anomaly map {index} has shape "
                f"{anomaly_map.shape}; both must be the same 2-D size."
            )
        yield mask, anomaly_map


def _collect_positives(masks, maps, progress: bool) -> PositivePixels:
    """Pass 1: anomalous pixel scores with their PRO weights, and the global min/max."""
    scores, regions, areas = [], [], []
    score_min, score_max, n_regions, n_pixels, dtype = None, None, 0, 0, np.dtype(np.float32)
    for mask, anomaly_map in _checked_pairs(masks, maps, progress, "metrics: anomalous pixels"):
        labelled, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
        region_of_pixel = labelled[mask]
        scores.append(anomaly_map[mask])
        regions.append(region_of_pixel.astype(np.int64) - 1 + n_regions)
        areas.append(np.bincount(region_of_pixel, minlength=count + 1)[1:])
        n_regions += count
        low, high = anomaly_map.min(), anomaly_map.max()
        score_min = low if score_min is None else min(score_min, low)
        score_max = high if score_max is None else max(score_max, high)
        dtype = np.promote_types(dtype, anomaly_map.dtype)
        n_pixels += anomaly_map.size
    if dtype not in (np.float32, np.float64):
        raise FiloError(f"anomaly maps of dtype {dtype} are not supported; convert them to float32 or float64.")
    all_scores = np.concatenate(scores).astype(dtype, copy=False)
    region_areas = np.concatenate(areas).astype(np.float64)
    return PositivePixels(
        scores=all_scores,
        pro_weight=1.0 / (len(region_areas) * region_areas[np.concatenate(regions)]),
        score_min=dtype.type(score_min),
        score_max=dtype.type(score_max),
        n_pixels=n_pixels,
    )


def _map_chunks(maps, dtype: np.dtype, chunk_pixels: int, progress: bool) -> Iterator[np.ndarray]:
    """Pass 2: every pixel of the maps (checked in pass 1) as 1-D `dtype` chunks of >= `chunk_pixels`.

    Consecutive images of one (N, H, W) array come as a view, without a copy.
    """
    bar = tqdm(total=len(maps), desc="metrics: all pixels", unit="map", disable=not progress, leave=False)
    start = 0
    while start < len(maps):
        stop, size = start, 0
        while stop < len(maps) and size < chunk_pixels:
            size += np.size(maps[stop])
            stop += 1
        if isinstance(maps, np.ndarray):
            chunk = maps[start:stop].reshape(-1)
        else:
            chunk = np.concatenate([np.asarray(maps[index]).ravel() for index in range(start, stop)])
        yield chunk.astype(dtype, copy=False)
        bar.update(stop - start)
        start = stop
    bar.close()


def _quantise(scores: np.ndarray, positives: PositivePixels, bins: int | None) -> np.ndarray:
    """Scores unchanged when `bins` is None, else their equal-width bin index over [min, max] (float64)."""
    if bins is None:
        return scores
    span = float(positives.score_max) - float(positives.score_min)
    if span == 0.0:
        return np.zeros(scores.shape, dtype=np.float64)
    index = np.floor((scores.astype(np.float64) - float(positives.score_min)) * (bins / span))
    return np.clip(index, 0, bins - 1)
