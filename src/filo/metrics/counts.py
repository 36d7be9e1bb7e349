"""Exact ranking counts: how positives and negatives fall around every distinct positive score.

Every exact metric here (ROC AUC, AP, F1-max, official AUPRO) only needs, for each
distinct score ``u_k`` taken by a *positive*, how many positives equal it and how many
negatives lie strictly below it and at-or-below it. Negatives are never sorted: a
``ThresholdTally`` on the distinct positive scores counts them chunk by chunk, so memory
stays bounded by the chunk size plus the positives, and ties are handled exactly
(decision rule: ``score >= threshold``).

Sums over thresholds are exact (integers) or correctly rounded (`math.fsum`), never a BLAS
dot product: OpenBLAS splits long dot products across its threads, so their last bits
depend on the machine's core count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from filo.metrics.results import MetricValues
from filo.metrics.tally import ThresholdTally


@dataclass(frozen=True)
class RankCounts:
    """Counts at each distinct positive score, thresholds ascending.

    ``positives_at[k]`` positives score exactly ``thresholds[k]``; ``negatives_below[k]``
    and ``negatives_at_or_below[k]`` negatives score ``< thresholds[k]`` / ``<= thresholds[k]``.
    """

    thresholds: np.ndarray
    positives_at: np.ndarray
    negatives_below: np.ndarray
    negatives_at_or_below: np.ndarray
    n_positive: int
    n_negative: int

    def descending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thresholds, true positives, false positives) for ``score >= t``, t from high to low."""
        true_positives = np.cumsum(self.positives_at[::-1])
        false_positives = self.n_negative - self.negatives_below[::-1]
        return self.thresholds[::-1], true_positives, false_positives


def rank_counts(positives_at: np.ndarray, negatives: ThresholdTally) -> RankCounts:
    """Combine a tally of the negatives on the distinct positive scores with how many positives equal each."""
    below, at_or_below = negatives.counts()
    return RankCounts(
        thresholds=negatives.thresholds,
        positives_at=np.asarray(positives_at, dtype=np.int64),
        negatives_below=below,
        negatives_at_or_below=at_or_below,
        n_positive=int(np.sum(positives_at)),
        n_negative=int(negatives.total),
    )


def count_in_memory(positive_scores: np.ndarray, negative_scores: np.ndarray) -> RankCounts:
    """RankCounts for scores that fit in memory at once (image-level scores, small tests)."""
    dtype = np.promote_types(np.float32, np.result_type(positive_scores, negative_scores))
    distinct, positives_at = np.unique(positive_scores.astype(dtype), return_counts=True)
    tally = ThresholdTally(distinct, max_buckets=max(1024, 4 * len(distinct)))
    tally.add(negative_scores.astype(dtype))
    return rank_counts(positives_at, tally)


def roc_auc(counts: RankCounts) -> float:
    """Area under the ROC curve (ties count one half), equal to scikit-learn's ``roc_auc_score``.

    Twice the number of (positive, negative) wins is summed exactly as integers.
    """
    negatives_twice = counts.negatives_below + counts.negatives_at_or_below
    exact = object if 2 * counts.n_positive * counts.n_negative >= 2**63 else np.int64  # int64 cannot overflow
    wins_twice = int(np.dot(counts.positives_at.astype(exact), negatives_twice.astype(exact)))
    return wins_twice / (2 * counts.n_positive * counts.n_negative)


def average_precision(counts: RankCounts) -> float:
    """Step-wise average precision, equal to scikit-learn's ``average_precision_score`` (sum correctly rounded)."""
    _, true_positives, false_positives = counts.descending()
    precision = true_positives / (true_positives + false_positives)
    return math.fsum(counts.positives_at[::-1] * precision) / counts.n_positive


def f1_max(counts: RankCounts) -> tuple[float, float]:
    """Best F1 over all thresholds and the highest threshold reaching it (rule ``score >= t``).

    Only distinct positive scores need checking: between them the true positives stay
    the same while false positives can only grow. Equals the maximum of ``2PR/(P+R)``
    over scikit-learn's ``precision_recall_curve``.
    """
    thresholds, true_positives, false_positives = counts.descending()
    f1 = 2.0 * true_positives / (true_positives + false_positives + counts.n_positive)
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def summarise_counts(counts: RankCounts, *, prefix: str, unit: str) -> MetricValues:
    """AUROC, AP and F1-max of `counts` under keys ``{prefix}_auroc/_ap/_f1_max``."""
    result = MetricValues()
    if counts.n_positive == 0:
        for name in ("auroc", "ap", "f1_max"):
            result.set_undefined(f"{prefix}_{name}", f"there are no anomalous {unit}")
        return result
    if counts.n_negative == 0:
        result.set_undefined(f"{prefix}_auroc", f"there are no normal {unit}")
    else:
        result.set(f"{prefix}_auroc", roc_auc(counts))
    result.set(f"{prefix}_ap", average_precision(counts))
    result.set(f"{prefix}_f1_max", f1_max(counts)[0])
    return result
