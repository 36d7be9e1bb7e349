"""The zero-shot protocol check on a checkpoint's recorded training categories."""

from __future__ import annotations

import logging

import pytest

from filo.errors import FiloError
from filo.evaluation.zero_shot import check_zero_shot
from filo.model.config import TrainingProvenance


def _trained_on(*categories: str) -> TrainingProvenance:
    return TrainingProvenance(train_dataset="synth_mvtec", trained_categories=categories)


def test_overlapping_categories_are_refused_and_named():
    with pytest.raises(FiloError, match=r"m\.pt was trained on \['pcb1', 'pcb2'\].*--allow-overlap"):
        check_zero_shot(_trained_on("pcb2", "pcb1", "candle"), ["pcb1", "pcb2", "bottle"],
                        allow_overlap=False, model_name="m.pt")


def test_disjoint_categories_pass():
    assert check_zero_shot(_trained_on("candle"), ["bottle"], allow_overlap=False, model_name="m") == []


def test_allow_overlap_accepts_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        overlap = check_zero_shot(_trained_on("bottle"), ["bottle"], allow_overlap=True, model_name="m")
    assert overlap == ["bottle"]
    assert "not zero-shot" in caplog.text


def test_checkpoint_without_training_record_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert check_zero_shot(None, ["bottle"], allow_overlap=False, model_name="init.pt") == []
    assert "init.pt does not record the categories" in caplog.text
