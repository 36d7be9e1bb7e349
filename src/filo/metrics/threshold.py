"""Verdict thresholds turning an image score into "anomalous" / "normal".

Tie rule everywhere: an image is anomalous when ``score >= threshold``.
"""

from __future__ import annotations

import math

import numpy as np

from filo.errors import FiloError
from filo.metrics.counts import f1_max
from filo.metrics.image import labelled_counts
from filo.metrics.validation import as_binary, as_scores


def f1_optimal_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold maximising image F1 under ``score >= threshold``.

    It is always one of the anomalous images' scores; among equally good thresholds the
    highest is chosen (fewest images flagged). ``confusion_at`` at this threshold gives
    exactly the F1-max reported by ``compute_image_metrics``.
    """
    counts = labelled_counts(labels, scores)
    if counts.n_positive == 0:
        raise FiloError(
            "cannot choose an F1-optimal threshold: the labels contain no anomalous image; "
            "use a target false-positive rate on normal images instead."
        )
    return f1_max(counts)[1]


def fpr_threshold(normal_scores: np.ndarray, target_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on `normal_scores` is at most `target_fpr`.

    With ``k = floor(target_fpr * n)`` normal images allowed above it, the threshold is the
    next float (in the scores' own dtype, so float32 comparisons stay exact) above the
    (k+1)-th highest normal score, so ties never push the realised rate over the target.
    """
    scores = as_scores(np.asarray(normal_scores), "normal_scores").ravel()
    if len(scores) == 0:
        raise FiloError("normal_scores is empty: a target false-positive rate needs normal images.")
    if not 0.0 <= target_fpr < 1.0:
        raise FiloError(f"target_fpr must be in [0, 1), got {target_fpr}.")
    allowed = math.floor(target_fpr * len(scores) + 1e-9)
    highest_first = np.sort(scores)[::-1]
    return float(np.nextafter(highest_first[allowed], np.inf))


def confusion_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    """Confusion matrix ``{"tp", "fp", "tn", "fn"}`` of the verdict ``score >= threshold``."""
    labels = as_binary(np.asarray(labels), "labels").ravel()
    scores = as_scores(np.asarray(scores), "scores").ravel()
    if len(labels) != len(scores):
        raise FiloError(f"labels ({len(labels)}) and scores ({len(scores)}) differ in length.")
    flagged = scores >= threshold
    return {
        "tp": int(np.sum(flagged & labels)),
        "fp": int(np.sum(flagged & ~labels)),
        "tn": int(np.sum(~flagged & ~labels)),
        "fn": int(np.sum(~flagged & labels)),
    }
