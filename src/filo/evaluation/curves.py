"""Image-level ROC and precision-recall curve points per category, as long tables for `dvc plots`."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def _cumulative_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, true positives, false positives) for ``score >= t`` at each distinct score."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order].astype(bool)
    last_of_each_value = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    true_positives = np.cumsum(sorted_labels)[last_of_each_value]
    false_positives = (last_of_each_value + 1) - true_positives
    return sorted_scores[last_of_each_value], true_positives, false_positives


def roc_points(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """ROC curve ``threshold, fpr, tpr`` from (inf, 0, 0) through every distinct score; needs both classes."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    thresholds, true_positives, false_positives = _cumulative_counts(labels, scores)
    n_positive, n_negative = int(labels.sum()), int(len(labels) - labels.sum())
    return pd.DataFrame({
        "threshold": np.r_[np.inf, thresholds],
        "fpr": np.r_[0.0, false_positives / n_negative],
        "tpr": np.r_[0.0, true_positives / n_positive],
    })


def pr_points(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Precision-recall curve ``threshold, recall, precision`` from (inf, 0, 1) through every distinct score."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    thresholds, true_positives, false_positives = _cumulative_counts(labels, scores)
    return pd.DataFrame({
        "threshold": np.r_[np.inf, thresholds],
        "recall": np.r_[0.0, true_positives / labels.sum()],
        "precision": np.r_[1.0, true_positives / (true_positives + false_positives)],
    })


def category_curves(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long (ROC, PR) tables with a `category` column, from a scores table (category, label, score).

    A category without anomalous images has neither curve; one without normal images has
    no ROC curve. They are skipped with a log line.
    """
    roc, pr = [], []
    for category, rows in table.groupby("category", sort=True):
        labels, scores = rows["label"].to_numpy(), rows["score"].to_numpy()
        n_positive = int(labels.sum())
        if n_positive == 0:
            logger.info("category %s has no anomalous images: no ROC/PR curve", category)
            continue
        pr.append(pr_points(labels, scores).assign(category=category))
        if n_positive == len(labels):
            logger.info("category %s has no normal images: no ROC curve", category)
            continue
        roc.append(roc_points(labels, scores).assign(category=category))
    return _concat(roc, ["category", "threshold", "fpr", "tpr"]), _concat(pr, ["category", "threshold", "recall", "precision"])


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
