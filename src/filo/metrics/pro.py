"""Per-region overlap (PRO) curves: the official MVTec AUPRO and the FiLo authors' variant.

Official (MVTec AD evaluation code): ground-truth regions are the 8-connected components
of every mask (``scipy.ndimage.label`` with a full 3x3 structure), pooled over all images.
At a threshold ``t`` (pixel anomalous when ``score >= t``) the PRO is the mean over regions
of the fraction of the region flagged, the FPR is the flagged share of all normal pixels
of all images. The curve through every distinct threshold is integrated with the
trapezoid rule up to the FPR limit (the point at the limit interpolated linearly) and
divided by the limit. It is computed exactly from cumulative sums, see ``official_aupro``.

Authors' variant (``cal_pro_score`` in FiLo's ``test.py``, kept because their published
PRO numbers use it): thresholds ``np.arange(lo, hi, (hi - lo) / 200)`` over the global
min/max of all maps (the step in the maps' dtype, the thresholds float64, as NumPy 2
computes them; usually 200, occasionally 201 of them), a pixel is flagged when
``score > t``; PRO per region (regions 8-connected per image), FPR over all normal pixels;
only thresholds with FPR strictly below the limit are kept, those FPRs are rescaled to
[0, 1] by their own min/max, and the area is the trapezoid of PRO over the rescaled FPR.
Where their code crashes or yields NaN (constant maps, fewer than two kept thresholds,
all kept FPRs equal) we report NaN with the reason.
"""

from __future__ import annotations

import numpy as np

from filo.metrics.counts import RankCounts

AUTHORS_STEPS = 200


class MetricUndefined(Exception):
    """Raised by a curve function when the data cannot define the metric; the message says why."""


def trapezoid_up_to(x: np.ndarray, y: np.ndarray, x_limit: float) -> float:
    """Trapezoid area under the polyline (x non-decreasing) from x[0] up to `x_limit`.

    When `x_limit` falls inside a segment, the point at `x_limit` is interpolated linearly.
    """
    inside = int(np.searchsorted(x, x_limit, side="right"))
    area = float(np.trapezoid(y[:inside], x[:inside]))
    if inside < len(x):
        x0, x1, y0, y1 = x[inside - 1], x[inside], y[inside - 1], y[inside]
        y_limit = y0 + (y1 - y0) * (x_limit - x0) / (x1 - x0)
        area += (x_limit - x0) * (y0 + y_limit) / 2.0
    return area


def official_aupro(counts: RankCounts, pro_weight_at: np.ndarray, fpr_limit: float) -> float:
    """Official normalised AUPRO from exact rank counts.

    ``pro_weight_at[k]`` is the sum, over positive pixels scoring ``counts.thresholds[k]``,
    of ``1 / (number_of_regions * area_of_the_pixel's_region)``, so the cumulative sum from
    the top is the PRO. Between two distinct positive scores the PRO is flat, so the curve
    only needs two points per positive score: just above it and at it.
    """
    if counts.n_positive == 0:
        raise MetricUndefined("there are no anomalous pixels")
    if counts.n_negative == 0:
        raise MetricUndefined("there are no normal pixels, so the false-positive rate is undefined")
    _, _, false_positives = counts.descending()
    false_positives_above = counts.n_negative - counts.negatives_at_or_below[::-1]
    pro = np.cumsum(pro_weight_at[::-1])
    pro_before = np.concatenate([[0.0], pro[:-1]])
    fpr = np.column_stack([false_positives_above, false_positives]).ravel() / counts.n_negative
    overlap = np.column_stack([pro_before, pro]).ravel()
    fpr = np.concatenate([[0.0], fpr, [1.0]])
    overlap = np.clip(np.concatenate([[0.0], overlap, [pro[-1]]]), 0.0, 1.0)
    return trapezoid_up_to(fpr, overlap, fpr_limit) / fpr_limit


def authors_thresholds(score_min: np.generic, score_max: np.generic) -> np.ndarray:
    """The authors' thresholds: ``np.arange(min, max, (max - min) / 200)``; none for constant maps."""
    if score_max == score_min:
        return np.empty(0)
    step = (score_max - score_min) / AUTHORS_STEPS
    return np.arange(score_min, score_max, step)


def authors_aupro(
    thresholds: np.ndarray,
    positive_scores: np.ndarray,
    pro_weight: np.ndarray,
    negatives_at_or_below: np.ndarray,
    n_negative: int,
    fpr_limit: float,
) -> float:
    """The authors' AUPRO from the anomalous pixels and the normal pixels' counts ``<=`` each threshold.

    ``pro_weight`` is ``1 / (number_of_regions * area_of_the_pixel's_region)`` per anomalous
    pixel, so the mean over regions of the flagged fraction at ``t`` is the summed weight of
    pixels scoring ``> t``: one weighted histogram over the thresholds replaces one full
    pass over the maps per threshold.
    """
    if len(positive_scores) == 0:
        raise MetricUndefined("there are no anomalous pixels")
    if n_negative == 0:
        raise MetricUndefined("there are no normal pixels, so the false-positive rate is undefined")
    if len(thresholds) == 0:
        raise MetricUndefined(
            "all map values are equal, so the authors' threshold step is zero (their code divides by zero)"
        )
    thresholds_below = np.searchsorted(thresholds, positive_scores, side="left")
    weight_by_count = np.bincount(thresholds_below, weights=pro_weight, minlength=len(thresholds) + 1)
    pro = np.cumsum(weight_by_count[::-1])[::-1][1:]
    fpr = (n_negative - negatives_at_or_below) / n_negative
    kept = fpr < fpr_limit
    if kept.sum() < 2:
        raise MetricUndefined(
            f"fewer than two of the authors' thresholds have FPR < {fpr_limit} (their code fails here)"
        )
    fpr, pro = fpr[kept], pro[kept]
    if fpr.max() == fpr.min():
        raise MetricUndefined("all kept FPRs are equal, so the authors' min/max rescaling divides by zero")
    rescaled = (fpr - fpr.min()) / (fpr.max() - fpr.min())
    return float(np.trapezoid(pro[::-1], rescaled[::-1]))
