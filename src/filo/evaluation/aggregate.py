"""Metrics per category and their mean over categories, from one scoring run."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from filo.metrics import MetricValues, UndefinedMetricWarning, compute_image_metrics, compute_pixel_metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationMetrics:
    """Per-category metric values (keys exactly as `filo.metrics` names them) and their mean."""

    per_category: dict[str, dict[str, float]]
    """Raw category name → metric key → value (NaN where undefined)."""
    mean: dict[str, float]
    """Metric key → mean over the categories where it is defined (NaN if defined nowhere)."""
    undefined: dict[str, dict[str, str]]
    """Raw category name → metric key → why the value is NaN (only categories with NaNs)."""
    counts: dict[str, dict[str, int]]
    """Raw category name → {"normal": n, "anomalous": m} test images."""
    pixel_metrics: bool
    """Whether pixel-level metrics were computed (the manifest has masks)."""
    image_metrics: bool = True
    """Whether image-level metrics were computed (the test set has anomalous images; a set of good images only
    gives its calibrated threshold and nothing else)."""

    def mean_excludes(self) -> dict[str, list[str]]:
        """Metric key → the categories left out of its mean because the value is undefined there."""
        excluded: dict[str, list[str]] = {}
        for category, reasons in self.undefined.items():
            for key in reasons:
                excluded.setdefault(key, []).append(category)
        return excluded


def _category_metrics(
    rows: np.ndarray,
    table: pd.DataFrame,
    maps: np.ndarray,
    masks: np.ndarray,
    *,
    pixel_metrics: bool,
    pro_fpr_limit: float,
    bins: int | None,
    image_metrics: bool = True,
) -> MetricValues:
    """Image (and pixel) metrics of the images at positions `rows`; maps are viewed, never copied."""
    values = (compute_image_metrics(table["label"].to_numpy()[rows], table["score"].to_numpy()[rows])
              if image_metrics else MetricValues())
    if pixel_metrics:
        pixel = compute_pixel_metrics(
            [masks[row] for row in rows],
            [maps[row] for row in rows],
            pro_fpr_limit=pro_fpr_limit,
            bins=bins,
            progress=False,
        )
        values.update(pixel)
        values.undefined.update(pixel.undefined)
    return values


def compute_evaluation_metrics(
    table: pd.DataFrame,
    maps: np.ndarray,
    masks: np.ndarray,
    *,
    pixel_metrics: bool,
    pro_fpr_limit: float = 0.3,
    bins: int | None = None,
) -> EvaluationMetrics:
    """Metrics of every category in `table` (a `ScoredImages.table`) and their mean over categories.

    `maps`/`masks` are the [N, S, S] arrays aligned with `table`'s rows; they are only read
    when `pixel_metrics` is set. A table without anomalous images (good images only, e.g. a
    product folder for calibration) gets no metrics at all, only its counts. Undefined values (e.g. a category without anomalies) are
    NaN, logged with their reason, and left out of the mean.
    """
    per_category: dict[str, dict[str, float]] = {}
    undefined: dict[str, dict[str, str]] = {}
    counts: dict[str, dict[str, int]] = {}
    image_metrics = bool((table["label"].to_numpy() == 1).any())
    pixel_metrics = pixel_metrics and image_metrics
    positions = table.groupby("category", sort=True).indices
    for category, rows in tqdm(positions.items(), desc="metrics", unit="category"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            values = _category_metrics(
                rows, table, maps, masks, pixel_metrics=pixel_metrics, pro_fpr_limit=pro_fpr_limit, bins=bins,
                image_metrics=image_metrics,
            )
        per_category[category] = dict(values)
        anomalous = int(table["label"].to_numpy()[rows].sum())
        counts[category] = {"normal": len(rows) - anomalous, "anomalous": anomalous}
        if values.undefined:
            undefined[category] = dict(values.undefined)
            for key, reason in values.undefined.items():
                logger.warning("category %s: %s is undefined (%s); left out of the mean", category, key, reason)
    if not image_metrics:
        logger.warning("no anomalous images: only the verdict threshold is calibrated (no image or pixel metrics)")
    return EvaluationMetrics(per_category, _mean(per_category), undefined, counts, pixel_metrics, image_metrics)


def _mean(per_category: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the categories where it is defined (correctly rounded sum: any category order)."""
    keys = next(iter(per_category.values())).keys()
    mean = {}
    for key in keys:
        defined = [values[key] for values in per_category.values() if not math.isnan(values[key])]
        mean[key] = math.fsum(defined) / len(defined) if defined else math.nan
    return mean
