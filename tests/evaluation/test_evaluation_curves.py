"""Image-level ROC / PR curve points equal scikit-learn's; categories lacking a class get no curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from filo.evaluation.curves import category_curves, pr_points, roc_points


@pytest.fixture
def labelled_scores():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60) + 0.3 * labels, 2)  # rounding makes ties
    return labels, scores


def test_roc_points_equal_scikit_learn(labelled_scores):
    labels, scores = labelled_scores
    ours = roc_points(labels, scores)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(ours["fpr"], fpr)
    np.testing.assert_allclose(ours["tpr"], tpr)
    np.testing.assert_allclose(ours["threshold"][1:], thresholds[1:])
    assert auc(ours["fpr"], ours["tpr"]) == pytest.approx(auc(fpr, tpr))


def test_pr_points_equal_scikit_learn(labelled_scores):
    labels, scores = labelled_scores
    ours = pr_points(labels, scores)
    precision, recall, thresholds = precision_recall_curve(labels, scores, drop_intermediate=False)
    # scikit-learn lists thresholds ascending and appends the (recall 0, precision 1) end point.
    np.testing.assert_allclose(ours["recall"], recall[::-1])
    np.testing.assert_allclose(ours["precision"], precision[::-1])
    np.testing.assert_allclose(ours["threshold"][1:], thresholds[::-1])


def test_category_curves_skip_categories_without_both_classes():
    table = pd.DataFrame({
        "category": ["a", "a", "a", "b", "b", "c", "c"],
        "label": [0, 1, 1, 0, 0, 1, 1],
        "score": [0.1, 0.5, 0.9, 0.2, 0.3, 0.4, 0.6],
    })
    roc, pr = category_curves(table)
    assert sorted(roc["category"].unique()) == ["a"]
    assert sorted(pr["category"].unique()) == ["a", "c"]
    assert list(roc.columns) == ["category", "threshold", "fpr", "tpr"]
    assert list(pr.columns) == ["category", "threshold", "recall", "precision"]
