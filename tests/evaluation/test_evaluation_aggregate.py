"""Per-category metrics, their mean over categories, undefined values, and the reports built from them."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from filo.evaluation.aggregate import compute_evaluation_metrics
from filo.evaluation.report import markdown_table, metrics_document, metrics_table, write_metrics_json
from filo.metrics import compute_pixel_metrics

IMAGE_KEYS = ["image_auroc", "image_ap", "image_f1_max"]
PIXEL_KEYS = ["pixel_auroc", "pixel_ap", "pixel_f1_max", "pixel_aupro", "pixel_aupro_authors"]


@pytest.fixture
def scored():
    """Three categories, images interleaved; "gamma" has no anomalous image."""
    rng = np.random.default_rng(0)
    categories = ["alpha", "beta", "gamma"] * 6
    labels = np.array([int(c != "gamma" and i % 2 == 0) for i, c in enumerate(categories)])
    masks = np.zeros((len(labels), 16, 16), dtype=bool)
    for row in np.flatnonzero(labels):
        top, left = rng.integers(0, 10, 2)
        masks[row, top:top + 4, left:left + 5] = True
    maps = (rng.random(masks.shape) + 0.5 * masks).astype(np.float32)
    table = pd.DataFrame({
        "category": categories,
        "label": labels,
        "score": maps.reshape(len(labels), -1).max(1).astype(np.float64) + rng.normal(0, 0.1, len(labels)),
    })
    return table, maps, masks


def test_each_category_is_measured_on_its_own_images(scored):
    table, maps, masks = scored
    metrics = compute_evaluation_metrics(table, maps, masks, pixel_metrics=True)
    assert list(metrics.per_category) == ["alpha", "beta", "gamma"]
    for category in ("alpha", "beta"):
        rows = (table["category"] == category).to_numpy()
        values = metrics.per_category[category]
        assert list(values) == IMAGE_KEYS + PIXEL_KEYS
        assert values["image_auroc"] == pytest.approx(roc_auc_score(table["label"][rows], table["score"][rows]))
        expected = compute_pixel_metrics(masks[rows], maps[rows], progress=False)
        for key in PIXEL_KEYS:
            assert values[key] == pytest.approx(expected[key])
    assert metrics.counts == {
        "alpha": {"normal": 3, "anomalous": 3},
        "beta": {"normal": 3, "anomalous": 3},
        "gamma": {"normal": 6, "anomalous": 0},
    }


def test_mean_leaves_out_categories_where_a_metric_is_undefined(scored):
    table, maps, masks = scored
    metrics = compute_evaluation_metrics(table, maps, masks, pixel_metrics=True)
    assert math.isnan(metrics.per_category["gamma"]["image_auroc"])
    assert "no anomalous images" in metrics.undefined["gamma"]["image_auroc"]
    for key in IMAGE_KEYS + PIXEL_KEYS:
        assert metrics.mean[key] == pytest.approx(
            (metrics.per_category["alpha"][key] + metrics.per_category["beta"][key]) / 2
        )
        assert metrics.mean_excludes()[key] == ["gamma"]


def test_without_masks_only_image_metrics_are_computed(scored):
    table, maps, masks = scored
    metrics = compute_evaluation_metrics(table, maps, masks, pixel_metrics=False)
    assert not metrics.pixel_metrics
    assert all(list(values) == IMAGE_KEYS for values in metrics.per_category.values())
    assert list(metrics.mean) == IMAGE_KEYS


def test_reports_hold_a_row_per_category_and_the_mean_without_nan(scored, tmp_path):
    table, maps, masks = scored
    metrics = compute_evaluation_metrics(table, maps, masks, pixel_metrics=True)
    frame = metrics_table(metrics)
    assert frame["category"].tolist() == ["alpha", "beta", "gamma", "mean"]
    assert frame.loc[3, "n_normal"] == 12 and frame.loc[3, "n_anomalous"] == 6
    assert frame.loc[3, "image_auroc"] == pytest.approx(metrics.mean["image_auroc"])

    markdown = markdown_table(frame, title="t", notes=["a note"])
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 4  # header, three categories, mean
    assert rows[0].count("|") == 12  # 11 columns: name, two counts, eight metrics
    gamma = next(line for line in rows if line.startswith("| gamma "))
    assert "–" in gamma
    alpha = next(line for line in rows if line.startswith("| alpha "))
    assert f"{100 * metrics.per_category['alpha']['image_auroc']:.1f}" in alpha

    path = tmp_path / "metrics.json"
    write_metrics_json(path, metrics_document(metrics, {"dataset": "toy"}))
    document = json.loads(path.read_text())  # strict JSON: would fail on NaN
    assert document["per_category"]["gamma"]["image_auroc"] is None
    assert document["n_images"] == 18 and document["n_categories"] == 3
    assert document["mean"]["pixel_aupro"] == pytest.approx(metrics.mean["pixel_aupro"])


def test_a_set_of_good_images_only_gets_no_metrics_but_its_counts(scored):
    """A product folder of good images (a pipeline target for calibration): nothing to score but a threshold."""
    table, maps, masks = scored
    good = (table["label"] == 0).to_numpy()
    metrics = compute_evaluation_metrics(table[good].reset_index(drop=True), maps[good], masks[good],
                                         pixel_metrics=True)
    assert not metrics.image_metrics and not metrics.pixel_metrics
    assert metrics.mean == {} and all(values == {} for values in metrics.per_category.values())
    assert metrics.counts["alpha"] == {"normal": 3, "anomalous": 0}
    document = metrics_document(metrics, {"dataset": "line3"})
    assert not set(IMAGE_KEYS + PIXEL_KEYS) & set(json.dumps(document).split('"'))
