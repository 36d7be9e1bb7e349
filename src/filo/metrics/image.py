"""Image-level metrics: AUROC, AP and F1-max of one score per image."""

from __future__ import annotations

import numpy as np

from filo.errors import FiloError
from filo.metrics.counts import RankCounts, count_in_memory, summarise_counts
from filo.metrics.results import MetricValues
from filo.metrics.validation import as_binary, as_scores


def labelled_counts(labels: np.ndarray, scores: np.ndarray) -> RankCounts:
    """Validate 1-D labels (0/1) and scores of the same length and count them exactly."""
    labels = as_binary(np.asarray(labels), "labels")
    scores = as_scores(np.asarray(scores), "scores")
    if labels.ndim != 1 or scores.ndim != 1 or len(labels) != len(scores):
        raise FiloError(
            f"labels and scores must be 1-D and of equal length, got shapes {labels.shape} and "
            f"{scores.shape}."
        )
    if len(labels) == 0:
        raise FiloError("labels and scores are empty: there is nothing to evaluate.")
    return count_in_memory(scores[labels], scores[~labels])


def compute_image_metrics(labels: np.ndarray, scores: np.ndarray) -> MetricValues:
    """Return ``image_auroc``, ``image_ap`` and ``image_f1_max`` (exact, equal to scikit-learn).

    Without anomalous images every value is NaN; without normal images AUROC is NaN
    while AP and F1-max are 1. Each NaN carries its reason in ``result.undefined``.
    """
    counts = labelled_counts(labels, scores)
    return summarise_counts(counts, prefix="image", unit="images")
