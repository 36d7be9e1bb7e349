"""Verdict thresholds follow the rule score >= threshold and agree with F1-max."""

from __future__ import annotations

import numpy as np
import pytest

from filo.errors import FiloError
from filo.metrics import compute_image_metrics, confusion_at, f1_optimal_threshold, fpr_threshold


def _f1(confusion: dict[str, int]) -> float:
    return 2 * confusion["tp"] / (2 * confusion["tp"] + confusion["fp"] + confusion["fn"])


@pytest.mark.parametrize("seed", range(10))
def test_f1_optimal_threshold_reaches_f1_max(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    labels[0] = 1
    scores = (rng.integers(0, 8, 40) + 2 * labels).astype(np.float32)  # many ties
    threshold = f1_optimal_threshold(labels, scores)
    assert threshold in scores[labels == 1]
    expected = compute_image_metrics(labels, scores)["image_f1_max"]
    assert _f1(confusion_at(labels, scores, threshold)) == pytest.approx(expected, abs=1e-12)


def test_f1_optimal_threshold_prefers_the_highest_of_equal_choices() -> None:
    labels = np.array([1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # t=0.9: tp=1, fn=1 -> F1 = 2/3; t=0.6: tp=2, fp=2 -> F1 = 2/3 as well.
    assert f1_optimal_threshold(labels, scores) == 0.9


def test_confusion_counts_ties_as_anomalous() -> None:
    confusion = confusion_at([0, 1, 1, 0], [0.5, 0.5, 0.2, 0.1], threshold=0.5)
    assert confusion == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target", [0.0, 0.05, 0.1, 0.29, 0.5])
def test_fpr_threshold_is_the_lowest_within_the_target(target: float, dtype: type) -> None:
    rng = np.random.default_rng(3)
    normal = np.round(rng.random(100), 2).astype(dtype)  # ties
    threshold = fpr_threshold(normal, target)
    realised = confusion_at(np.zeros(100, dtype=int), normal, threshold)["fp"] / 100
    assert realised <= target + 1e-12
    lower = normal[normal < threshold].max()
    assert np.mean(normal >= lower) > target


def test_fpr_threshold_zero_flags_no_normal_image() -> None:
    normal = np.array([0.2, 0.7, 0.7])
    threshold = fpr_threshold(normal, 0.0)
    assert threshold > 0.7 and confusion_at([0, 0, 0], normal, threshold)["fp"] == 0


def test_threshold_errors_are_explained() -> None:
    with pytest.raises(FiloError, match="no anomalous image"):
        f1_optimal_threshold([0, 0], [0.1, 0.2])
    with pytest.raises(FiloError, match="target_fpr"):
        fpr_threshold([0.1], 1.0)
    with pytest.raises(FiloError, match="empty"):
        fpr_threshold([], 0.1)
    with pytest.raises(FiloError, match="differ in length"):
        confusion_at([0, 1], [0.1], 0.5)
