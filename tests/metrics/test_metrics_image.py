"""Image-level metrics equal scikit-learn, ties included, and explain undefined values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_references import f1_max
from sklearn.metrics import average_precision_score, roc_auc_score

from filo.errors import FiloError
from filo.metrics import UndefinedMetricWarning, compute_image_metrics


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("distinct_scores", [3, 20, 1000])
def test_equals_scikit_learn_with_and_without_ties(seed: int, distinct_scores: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    labels[:2] = [0, 1]
    scores = rng.integers(0, distinct_scores, 60) / distinct_scores + 0.2 * labels
    result = compute_image_metrics(labels, scores)
    assert set(result) == {"image_auroc", "image_ap", "image_f1_max"}
    assert result["image_auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result["image_ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert result["image_f1_max"] == pytest.approx(f1_max(labels, scores), abs=1e-12)
    assert result.undefined == {}


def test_constant_scores_give_chance_values() -> None:
    labels = np.array([0, 1, 1, 0, 0])
    result = compute_image_metrics(labels, np.full(5, 0.7, dtype=np.float32))
    assert result["image_auroc"] == 0.5
    assert result["image_ap"] == pytest.approx(0.4)
    assert result["image_f1_max"] == pytest.approx(2 * 0.4 / 1.4)


def test_no_anomalous_image_makes_every_value_nan_with_a_reason() -> None:
    with pytest.warns(UndefinedMetricWarning, match="no anomalous images"):
        result = compute_image_metrics(np.zeros(4, dtype=int), np.arange(4.0))
    assert all(math.isnan(value) for value in result.values())
    assert result.undefined["image_auroc"] == "there are no anomalous images"


def test_no_normal_image_leaves_ap_and_f1_defined() -> None:
    with pytest.warns(UndefinedMetricWarning, match="image_auroc"):
        result = compute_image_metrics(np.ones(3, dtype=bool), np.array([0.1, 0.5, 0.2]))
    assert math.isnan(result["image_auroc"])
    assert result["image_ap"] == 1.0 and result["image_f1_max"] == 1.0
    assert list(result.undefined) == ["image_auroc"]


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1], [0.1], "equal length"),
        ([0, 2], [0.1, 0.2], "only 0"),
        ([0, 1], [0.1, float("nan")], "NaN"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs_raise_a_clear_error(labels, scores, message: str) -> None:
    with pytest.raises(FiloError, match=message):
        compute_image_metrics(np.array(labels), np.array(scores, dtype=float))
