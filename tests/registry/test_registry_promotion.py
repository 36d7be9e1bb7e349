"""The promotion gate: champion only when no shared direction regresses and one improves."""

import math

import pytest

from filo.errors import FiloError
from filo.registry.promotion import (
    CHALLENGER,
    CHAMPION,
    Gate,
    decide_promotion,
    metric_tags,
    metrics_from_tags,
)

GATE = Gate()


def test_gate_value_is_the_mean_of_image_and_pixel_auroc_by_default():
    assert GATE.value({"image_auroc": 0.8, "pixel_auroc": 0.6, "image_ap": 0.1}, where="x") == pytest.approx(0.7)
    assert Gate(("image_auroc",)).value({"image_auroc": 0.8, "pixel_auroc": None}, where="x") == 0.8


def test_an_undefined_gate_metric_is_an_error_naming_the_file_and_the_fix():
    with pytest.raises(FiloError, match=r"eval/metrics.json has no defined 'pixel_auroc'.*--gate-metrics"):
        GATE.value({"image_auroc": 0.8, "pixel_auroc": None}, where="eval/metrics.json")
    with pytest.raises(FiloError, match="at least one metric"):
        Gate(())


def test_the_first_version_becomes_champion():
    decision = decide_promotion({"a": 0.5}, None, gate=GATE)
    assert (decision.alias, decision.reason) == (CHAMPION, "no champion yet")


def test_better_on_one_direction_and_equal_on_the_other_is_promoted():
    decision = decide_promotion({"a": 0.8, "b": 0.6}, {"a": 0.7, "b": 0.6}, gate=GATE, champion_version="3")
    assert decision.alias == CHAMPION
    assert "improves on champion v3: a 0.8000 > 0.7000" in decision.reason


def test_a_regression_on_any_direction_keeps_the_champion():
    decision = decide_promotion({"a": 0.9, "b": 0.59}, {"a": 0.7, "b": 0.6}, gate=GATE, champion_version="3")
    assert decision.alias == CHALLENGER
    assert "regresses versus champion v3 on b 0.5900 < 0.6000" in decision.reason


def test_a_tie_everywhere_is_not_an_improvement():
    decision = decide_promotion({"a": 0.7}, {"a": 0.7, "b": 0.6}, gate=GATE, champion_version="1")
    assert decision.alias == CHALLENGER and "ties" in decision.reason


def test_directions_only_one_version_has_are_not_compared():
    assert decide_promotion({"a": 0.8}, {"a": 0.7, "b": 0.9}, gate=GATE, champion_version="1").alias == CHAMPION
    decision = decide_promotion({"c": 0.99}, {"a": 0.7}, gate=GATE, champion_version="1")
    assert decision.alias == CHALLENGER and "no direction in common" in decision.reason


def test_metric_tags_round_trip_and_skip_undefined_values():
    metrics = {"m_to_v": {"image_auroc": 0.123456789, "pixel_auroc": None, "pixel_ap": math.nan}}
    tags = metric_tags(metrics)
    assert tags == {"metric.m_to_v.image_auroc": repr(0.123456789)}
    assert metrics_from_tags({**tags, "git.commit": "abc"}) == {"m_to_v": {"image_auroc": 0.123456789}}
