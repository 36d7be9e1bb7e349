"""Which checkpoint serves a category: one not trained on it, the MVTec-trained one by default."""

import logging
from pathlib import Path

import pytest
import torch

from filo.errors import FiloError
from filo.prediction import CandidateModel, choose_candidate, default_candidate

from .builders import MVTEC_CATEGORY


def candidate(name, train_dataset, trained):
    return CandidateModel(name, Path(f"{name}.pt"), 0.5, frozenset(trained), train_dataset)


MVTEC = candidate("synth_mvtec_to_synth_visa", "synth_mvtec", {"woven_fabric", "round_part"})
VISA = candidate("synth_visa_to_synth_mvtec", "synth_visa", {"wood_grain", "pcb1"})


def test_a_category_is_served_by_the_model_not_trained_on_it():
    assert choose_candidate([MVTEC, VISA], "wood_grain") is MVTEC
    assert choose_candidate([MVTEC, VISA], "round_part") is VISA


def test_an_unseen_category_goes_to_the_mvtec_trained_default():
    assert default_candidate([VISA, MVTEC]) is MVTEC
    assert choose_candidate([VISA, MVTEC], "metal_nut") is MVTEC


def test_a_category_every_model_saw_uses_the_default_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="filo.prediction.models"):
        assert choose_candidate([MVTEC], "woven_fabric") is MVTEC
    assert "not zero-shot" in caplog.text


def test_from_checkpoint_reads_the_training_provenance(checkpoint):
    read = CandidateModel.from_checkpoint(checkpoint, threshold=0.25)
    assert read.trained_categories == {MVTEC_CATEGORY}
    assert read.train_dataset == "synth_mvtec"
    assert (read.name, read.threshold) == ("model", 0.25)


def test_from_checkpoint_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(FiloError, match="not a filo checkpoint"):
        CandidateModel.from_checkpoint(path)
