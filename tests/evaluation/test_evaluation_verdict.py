"""Verdict thresholds on hand-made scores: F1-optimal, target FPR, confusion matrix, verdict.json."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from filo.errors import FiloError
from filo.evaluation.verdict import (
    Calibration,
    check_rule_applicable,
    choose_verdict,
    read_verdict,
    write_verdict,
)

LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 1])
SCORES = np.array([0.1, 0.2, 0.3, 0.4, 0.75, 0.6, 0.8, 0.9, 0.05, 0.35])


def test_f1_rule_picks_the_threshold_with_the_best_f1():
    verdict = choose_verdict(LABELS, SCORES, rule="f1")
    # Flagging >= 0.6 gives tp 3, fp 1, fn 1 (F1 0.75); >= 0.35 gives tp 4, fp 2 (F1 0.8): the best.
    assert verdict.threshold == pytest.approx(0.35)
    assert verdict.confusion == {"tp": 4, "fp": 2, "tn": 4, "fn": 0}
    assert verdict.target_fpr is None
    best_f1 = max(
        2 * np.sum((SCORES >= t) & (LABELS == 1)) / (np.sum(SCORES >= t) + np.sum(LABELS == 1)) for t in SCORES
    )
    tp, fp, fn = (verdict.confusion[k] for k in ("tp", "fp", "fn"))
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(best_f1)


def test_fpr_rule_keeps_the_false_positive_rate_at_or_below_the_target():
    verdict = choose_verdict(LABELS, SCORES, rule="fpr", target_fpr=0.2)
    # 6 normal images, 20 % allows one false positive (the one at 0.75): just above the next normal, 0.4.
    assert verdict.threshold == np.nextafter(0.4, np.inf)
    assert verdict.confusion == {"tp": 3, "fp": 1, "tn": 5, "fn": 1}
    assert verdict.target_fpr == 0.2
    strict = choose_verdict(LABELS, SCORES, rule="fpr", target_fpr=0.0)
    assert strict.confusion["fp"] == 0 and strict.threshold > 0.75


def test_verdict_marks_scores_at_the_threshold_anomalous():
    verdict = choose_verdict(LABELS, SCORES, rule="f1")
    assert verdict.is_anomalous(np.array([0.35, np.nextafter(0.35, 0)])).tolist() == [True, False]


@pytest.mark.parametrize(
    ("rule", "labels", "target_fpr", "message"),
    [
        ("f1", np.zeros(4), None, "needs anomalous images"),
        ("fpr", np.ones(4), 0.05, "needs normal images"),
        ("fpr", LABELS, None, "needs a target false-positive rate"),
        ("median", LABELS, None, "unknown threshold rule"),
    ],
)
def test_rules_that_cannot_apply_are_refused_with_a_fix(rule, labels, target_fpr, message):
    with pytest.raises(FiloError, match=message):
        check_rule_applicable(rule, labels, target_fpr)


def test_a_verdict_states_its_calibration():
    fpr = choose_verdict(LABELS, SCORES, rule="fpr", target_fpr=0.2)
    assert fpr.calibration == Calibration("fpr", 0.2, int((LABELS == 0).sum()))
    assert fpr.calibration.describe() == "FPR <= 20% on 6 good images"
    assert Calibration.from_dict(fpr.calibration.as_dict()) == fpr.calibration
    assert choose_verdict(LABELS, SCORES, rule="f1").calibration == Calibration("f1", None, 6)


def test_verdict_file_round_trips(tmp_path):
    path = tmp_path / "verdict.json"
    verdict = choose_verdict(LABELS, SCORES, rule="fpr", target_fpr=0.2)
    write_verdict(path, verdict)
    document = json.loads(path.read_text())
    assert document["rule"] == "fpr" and document["target_fpr"] == 0.2 and document["n_good"] == 6
    assert document["decision"] == "anomalous when score >= threshold"
    assert read_verdict(path) == verdict


def test_broken_verdict_files_are_reported_with_their_path(tmp_path):
    path = tmp_path / "verdict.json"
    with pytest.raises(FiloError, match="does not exist"):
        read_verdict(path)
    path.write_text("{not json")
    with pytest.raises(FiloError, match=f"{path}.*not readable JSON"):
        read_verdict(path)
    path.write_text(json.dumps({"schema_version": 1, "rule": "f1", "threshold": 0.5}))
    with pytest.raises(FiloError, match="confusion matrix"):
        read_verdict(path)


def test_a_category_verdict_round_trips_and_names_its_calibration(tmp_path):
    path = tmp_path / "verdict.json"
    pooled = choose_verdict(np.zeros(6, dtype=int), SCORES[:6], rule="fpr", target_fpr=0.2)
    verdict = dataclasses.replace(pooled, category="gear_wheel",
                                  calibrated_on={"digest": "ab" * 32, "n_images": 6, "model": {"version": "3"}})
    write_verdict(path, verdict)
    assert read_verdict(path) == verdict
    calibration = verdict.calibration
    assert (calibration.category, calibration.images_digest) == ("gear_wheel", "ab" * 32)
    assert Calibration.from_dict(calibration.as_dict()) == calibration
    assert calibration.summary_for("gear_wheel") == "calibrated on gear_wheel's own good images: FPR <= 20% on 6 good images"
    assert calibration.summary_for("brake_disc").startswith("threshold calibrated on category gear_wheel, not brake_disc")
    dataset = Calibration("fpr", 0.05, 40, dataset="synth_visa")
    assert dataset.summary_for("gear_wheel").startswith(
        "gear_wheel has no calibration of its own: threshold from dataset synth_visa (FPR <= 5% on 40 good images")
    assert Calibration("manual").summary_for("gear_wheel") == "threshold set by hand"


def test_a_verdict_naming_a_path_as_its_category_is_refused(tmp_path):
    path = tmp_path / "verdict.json"
    write_verdict(path, choose_verdict(LABELS, SCORES, rule="fpr", target_fpr=0.2))
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "category": "../gear"}))
    with pytest.raises(FiloError, match=f"{path}.*category name '../gear'"):
        read_verdict(path)
