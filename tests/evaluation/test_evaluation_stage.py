"""`filo evaluate` end to end on a tiny model and tiny synthetic data (MLflow off; see the mlflow test)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evaluation_helpers import write_tiny_checkpoint
from PIL import Image
from sklearn.metrics import roc_auc_score

from filo.cli import main
from filo.errors import FiloError
from filo.evaluation import outputs, scoring
from filo.evaluation.evaluate import evaluate
from filo.evaluation.settings import EvaluationSettings

IMAGE_KEYS = ["image_auroc", "image_ap", "image_f1_max"]
PIXEL_KEYS = ["pixel_auroc", "pixel_ap", "pixel_f1_max", "pixel_aupro", "pixel_aupro_authors"]
OUTPUT_FILES = {
    "metrics.json", "metrics_detail.json", "verdict.json", "scores.parquet", "metrics_table.csv", "metrics_table.md",
    "plots/roc.csv", "plots/pr.csv", "plots/roc.png", "plots/pr.png", "plots/score_histograms.png",
    "plots/gallery.png",
}


@pytest.fixture(scope="module")
def evaluated(tiny_inputs, tmp_path_factory):
    """One evaluation run: its result, its output folder, and what scoring returned (for reuse)."""
    out_dir = tmp_path_factory.mktemp("evaluate") / "out"
    recorded = []
    real_scoring = scoring.score_manifest
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoring, "score_manifest", lambda *a, **k: recorded.append(real_scoring(*a, **k)) or recorded[0])
        result = evaluate(tiny_inputs.model, tiny_inputs.manifest, tiny_inputs.descriptions, out_dir,
                          boxes_path=tiny_inputs.boxes,
                          settings=EvaluationSettings(gallery_size=2, batch_size=4, experiment=None))
    return result, out_dir, recorded[0]


def _files(directory):
    return {path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()}


def test_writes_every_output(evaluated):
    _, out_dir, _ = evaluated
    assert _files(out_dir) == OUTPUT_FILES


def test_metrics_detail_matches_scikit_learn_on_the_written_scores(evaluated):
    result, out_dir, _ = evaluated
    document = json.loads((out_dir / "metrics_detail.json").read_text())
    scores = pd.read_parquet(out_dir / "scores.parquet")
    assert document["n_images"] == len(scores) == 14
    assert document["pixel_metrics"] is True and document["dataset"] == "synth_mvtec"
    assert document["boxes"] is True and scores["position"].eq("center").all()
    assert list(document["mean"]) == IMAGE_KEYS + PIXEL_KEYS
    assert sorted(document["per_category"]) == ["round_part", "woven_fabric"]
    aurocs = []
    for category, rows in scores.groupby("category"):
        aurocs.append(roc_auc_score(rows["label"], rows["score"]))
        assert document["per_category"][category]["image_auroc"] == pytest.approx(aurocs[-1])
        assert all(0.0 <= document["per_category"][category][key] <= 1.0 for key in PIXEL_KEYS)
    assert document["mean"]["image_auroc"] == pytest.approx(np.mean(aurocs))
    assert result.metrics.mean["image_auroc"] == pytest.approx(document["mean"]["image_auroc"])


def test_metrics_json_is_one_flat_row_of_means_threshold_and_counts(evaluated):
    result, out_dir, _ = evaluated
    summary = json.loads((out_dir / "metrics.json").read_text())
    detail = json.loads((out_dir / "metrics_detail.json").read_text())
    verdict = json.loads((out_dir / "verdict.json").read_text())
    summary_metrics = [*IMAGE_KEYS, *PIXEL_KEYS[:-1]]  # no authors' AUPRO variant in the summary
    assert list(summary) == ["dataset", *summary_metrics, "threshold", "n_normal", "n_anomalous"]
    assert summary["dataset"] == detail["dataset"] == "synth_mvtec"
    assert {key: summary[key] for key in summary_metrics} == {key: detail["mean"][key] for key in summary_metrics}
    assert summary["threshold"] == verdict["threshold"] == result.verdict.threshold
    assert (summary["n_normal"], summary["n_anomalous"]) == (detail["n_normal"], detail["n_anomalous"])
    assert summary["n_normal"] + summary["n_anomalous"] == detail["n_images"]


def test_scores_and_verdict_agree(evaluated):
    result, out_dir, _ = evaluated
    scores = pd.read_parquet(out_dir / "scores.parquet")
    verdict = json.loads((out_dir / "verdict.json").read_text())
    assert verdict["rule"] == "f1" and verdict["threshold"] == result.verdict.threshold
    flagged = scores["score"] >= verdict["threshold"]
    assert (scores["anomalous"] == flagged).all()
    anomalous = scores["label"] == 1
    assert verdict["confusion"] == {
        "tp": int((flagged & anomalous).sum()),
        "fp": int((flagged & ~anomalous).sum()),
        "tn": int((~flagged & ~anomalous).sum()),
        "fn": int((~flagged & anomalous).sum()),
    }
    assert scores["image_path"].map(lambda path: path.endswith(".png")).all()
    assert scores["top_descriptions"].map(len).eq(3).all()


def test_tables_and_plots_are_complete(evaluated):
    _, out_dir, _ = evaluated
    table = pd.read_csv(out_dir / "metrics_table.csv")
    assert table["category"].tolist() == ["round_part", "woven_fabric", "mean"]
    assert list(table.columns) == ["category", "n_normal", "n_anomalous", *IMAGE_KEYS, *PIXEL_KEYS]
    markdown = (out_dir / "metrics_table.md").read_text()
    assert "not the paper protocol" not in markdown and "| **Mean** |" in markdown
    for name in ("roc.png", "pr.png", "score_histograms.png", "gallery.png"):
        with Image.open(out_dir / "plots" / name) as image:
            assert image.format == "PNG" and image.width > 100 and image.height > 100
            assert "Software" not in image.info  # no library release in the bytes
            image.verify()
    roc = pd.read_csv(out_dir / "plots" / "roc.csv")
    assert sorted(roc["category"].unique()) == ["round_part", "woven_fabric"]
    assert roc.groupby("category")["tpr"].max().eq(1.0).all()


def test_model_trained_on_the_target_categories_is_refused(tiny_inputs, tmp_path, capsys):
    model = write_tiny_checkpoint(tmp_path / "trained.pt", trained_categories=["round_part", "pcb1"])
    code = main(["evaluate", "--model", str(model), "--manifest", str(tiny_inputs.manifest),
                 "--descriptions", str(tiny_inputs.descriptions), "--out-dir", str(tmp_path / "out"), "--experiment", "none"])
    assert code == 2
    assert "trained on ['round_part']" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_allow_overlap_evaluates_and_no_masks_means_image_level_only(tiny_inputs, tmp_path):
    model = write_tiny_checkpoint(tmp_path / "trained.pt", trained_categories=["round_part"])
    out_dir = tmp_path / "out"
    code = main(["evaluate", "--model", str(model), "--manifest", str(tiny_inputs.manifest_without_masks),
                 "--descriptions", str(tiny_inputs.descriptions), "--out-dir", str(out_dir), "--allow-overlap",
                 "--threshold-rule", "fpr", "--target-fpr", "0.0", "--gallery-size", "0", "--experiment", "none"])
    assert code == 0
    document = json.loads((out_dir / "metrics_detail.json").read_text())
    assert document["pixel_metrics"] is False
    assert all(list(values) == IMAGE_KEYS for values in document["per_category"].values())
    summary = json.loads((out_dir / "metrics.json").read_text())
    assert list(summary) == ["dataset", *IMAGE_KEYS, "threshold", "n_normal", "n_anomalous"]
    markdown = (out_dir / "metrics_table.md").read_text()
    assert "image-level metrics only" in markdown and "not the paper protocol" in markdown
    assert _files(out_dir) == OUTPUT_FILES - {"plots/gallery.png"}
    verdict = json.loads((out_dir / "verdict.json").read_text())
    assert verdict["rule"] == "fpr" and verdict["target_fpr"] == 0.0 and verdict["confusion"]["fp"] == 0


def test_a_crash_while_writing_leaves_the_previous_results_untouched(tiny_inputs, evaluated, tmp_path, monkeypatch):
    already_scored = evaluated[2]
    monkeypatch.setattr(scoring, "score_manifest", lambda *args, **kwargs: already_scored)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "metrics.json").write_text('{"old": true}')

    def broken_gallery(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "write_gallery", broken_gallery)
    with pytest.raises(RuntimeError, match="disk full"):
        evaluate(tiny_inputs.model, tiny_inputs.manifest, tiny_inputs.descriptions, out_dir,
                 settings=EvaluationSettings(experiment=None))
    assert _files(out_dir) == {"metrics.json"}
    assert json.loads((out_dir / "metrics.json").read_text()) == {"old": True}
    assert [path.name for path in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"gallery_size": -1}, "gallery size must be 0"),
        ({"bins": 1}, "bins must be at least 2"),
        ({"pro_fpr_limit": 0.0}, "FPR limit must be in"),
        ({"threshold_rule": "median"}, r"evaluate.threshold_rule must be one of \[.f1., .fpr.\], got .median."),
        ({"target_fpr": 1.0}, r"evaluate.target_fpr must lie in \[0, 1\)"),
        ({"box_lambda": 1.5}, "box_lambda must be in"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(setting, message):
    with pytest.raises(FiloError, match=message):
        EvaluationSettings(**setting)


def test_box_lambda_override_changes_only_pixels_outside_the_boxes(tiny_inputs, evaluated, tmp_path):
    _, _, default_scored = evaluated
    recorded = []
    real_scoring = scoring.score_manifest
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoring, "score_manifest", lambda *a, **k: recorded.append(real_scoring(*a, **k)) or recorded[0])
        evaluate(tiny_inputs.model, tiny_inputs.manifest, tiny_inputs.descriptions, tmp_path / "out",
                 boxes_path=tiny_inputs.boxes,
                 settings=EvaluationSettings(gallery_size=0, batch_size=4, experiment=None, box_lambda=1.0))
    unsuppressed = recorded[0].anomaly_maps
    suppressed = default_scored.anomaly_maps
    inside = np.isclose(unsuppressed, suppressed)
    assert inside.any() and not inside.all()
    np.testing.assert_allclose(suppressed[~inside], 0.7 * unsuppressed[~inside], rtol=1e-5)
    np.testing.assert_array_equal(recorded[0].table["score"], default_scored.table["score"])
