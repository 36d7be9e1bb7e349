"""Straightforward, slow reference implementations of the metric definitions (tests only)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.metrics import auc

FULL_3X3 = np.ones((3, 3), dtype=bool)


def regions_of(masks: np.ndarray, structure: np.ndarray = FULL_3X3) -> list[tuple[int, np.ndarray]]:
    """(image index, boolean region mask) for every connected component of every mask."""
    regions = []
    for index, mask in enumerate(masks):
        labelled, count = ndimage.label(mask, structure=structure)
        regions.extend((index, labelled == label) for label in range(1, count + 1))
    return regions


def area_up_to(x: list[float], y: list[float], limit: float) -> float:
    """Exact area under a polyline from its start up to x = limit, one segment at a time."""
    area = 0.0
    for x0, x1, y0, y1 in zip(x[:-1], x[1:], y[:-1], y[1:]):
        if x0 >= limit:
            break
        if x1 <= limit:
            area += (x1 - x0) * (y0 + y1) / 2
        else:
            y_at_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            area += (limit - x0) * (y0 + y_at_limit) / 2
    return area


def official_aupro(masks: np.ndarray, maps: np.ndarray, limit: float = 0.3,
                   structure: np.ndarray = FULL_3X3) -> float:
    """MVTec AUPRO by brute force: one full-map comparison per distinct score."""
    regions = regions_of(masks, structure)
    normal = ~masks
    fprs, pros = [0.0], [0.0]
    for threshold in np.unique(maps)[::-1]:
        flagged = maps >= threshold
        fprs.append((flagged & normal).sum() / normal.sum())
        pros.append(np.mean([flagged[index][region].mean() for index, region in regions]))
    fprs.append(1.0)
    pros.append(pros[-1])
    return area_up_to(fprs, pros, limit) / limit


def authors_aupro(masks: np.ndarray, maps: np.ndarray, limit: float = 0.3) -> float:
    """The FiLo authors' PRO score re-derived from its description: 200 thresholds, rescaled FPR."""
    low, high = maps.min(), maps.max()
    regions = regions_of(masks)
    fprs, pros = [], []
    for threshold in np.arange(low, high, (high - low) / 200):
        flagged = maps > threshold
        pros.append(np.mean([flagged[index][region].mean() for index, region in regions]))
        fprs.append((flagged & ~masks).sum() / (~masks).sum())
    fprs, pros = np.array(fprs), np.array(pros)
    kept = fprs < limit
    rescaled = (fprs[kept] - fprs[kept].min()) / (fprs[kept].max() - fprs[kept].min())
    return auc(rescaled, pros[kept])


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """F1-max over scikit-learn's precision-recall curve."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return float(np.max(f1[np.isfinite(f1)]))


def blob_masks(rng: np.random.Generator, count: int, size: int, empty_every: int = 3) -> np.ndarray:
    """Random masks made of a few rectangles each (every `empty_every`-th one normal)."""
    masks = np.zeros((count, size, size), dtype=bool)
    for index in range(count):
        if index % empty_every == 0:
            continue
        for _ in range(rng.integers(1, 4)):
            top, left = rng.integers(0, size - 2, 2)
            height, width = rng.integers(1, size // 3, 2)
            masks[index, top:top + height, left:left + width] = True
    return masks


def noisy_maps(rng: np.random.Generator, masks: np.ndarray, decimals: int | None = None) -> np.ndarray:
    """float32 maps higher inside the masks; rounding to `decimals` creates many ties."""
    maps = rng.random(masks.shape) + 0.6 * masks
    if decimals is not None:
        maps = np.round(maps, decimals)
    return maps.astype(np.float32)
