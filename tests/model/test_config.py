"""FiLoConfig's training provenance: a typed record, strict to read, and old checkpoints' `extra` still load."""

from __future__ import annotations

import logging

import pytest
import torch

from filo.errors import FiloError
from filo.model.checkpoint import load_checkpoint, save_checkpoint
from filo.model.config import FiLoConfig, TrainingProvenance, preset_config
from filo.model.filo import FiLo

PROVENANCE = TrainingProvenance(
    train_dataset="synth_mvtec",
    trained_categories=("metal_nut", "pcb1"),
    manifest_sha256="a" * 64,
    descriptions_sha256="b" * 64,
    epochs=2,
    adapter_epochs=1,
    seed=0,
)
LEGACY_EXTRA = {  # what `filo train` wrote into FiLoConfig.extra before the record existed
    "trained_categories": ["metal_nut", "pcb1"],
    "train_dataset": "synth_mvtec",
    "manifest_sha256": "a" * 64,
    "descriptions_sha256": "b" * 64,
    "epochs": 2,
    "adapter_epochs": 1,
    "seed": 0,
}


def test_config_round_trips_its_provenance_through_plain_json() -> None:
    config = preset_config("tiny", {"provenance": PROVENANCE})
    values = config.to_dict()
    assert values["provenance"]["trained_categories"] == ["metal_nut", "pcb1"]
    assert FiLoConfig.from_dict(values) == config
    assert FiLoConfig.from_dict(preset_config("tiny").to_dict()).provenance is None


def test_old_checkpoint_extra_loads_as_the_provenance_record(tmp_path) -> None:
    path = tmp_path / "old.pt"
    save_checkpoint(FiLo(preset_config("tiny")), path)
    payload = torch.load(path, weights_only=True)
    payload["config"].pop("provenance")
    payload["config"]["extra"] = LEGACY_EXTRA
    payload.pop("content_sha256")
    payload["version"] = 1  # checkpoints with `extra` were written before content hashes
    torch.save(payload, path)
    assert load_checkpoint(path).config.provenance == PROVENANCE


def test_old_untrained_extra_means_no_provenance_and_stray_notes_are_named(caplog) -> None:
    values = preset_config("tiny").to_dict()
    values.pop("provenance")
    assert FiLoConfig.from_dict({**values, "extra": {}}).provenance is None
    with caplog.at_level(logging.WARNING):
        config = FiLoConfig.from_dict({**values, "extra": {**LEGACY_EXTRA, "git_commit": "abc"}})
    assert config.provenance == PROVENANCE
    assert "['git_commit']" in caplog.text


@pytest.mark.parametrize(
    ("provenance", "message"),
    [
        ({**LEGACY_EXTRA, "host": "x"}, r"unknown training provenance keys \['host'\]"),
        ({"trained_categories": ["a"]}, r"lacks \['train_dataset'\]"),
        ({"train_dataset": "d", "trained_categories": "bottle"}, "must be a list of category names"),
    ],
)
def test_malformed_provenance_is_refused(provenance: dict, message: str) -> None:
    values = {**preset_config("tiny").to_dict(), "provenance": provenance}
    with pytest.raises(FiloError, match=message):
        FiLoConfig.from_dict(values)


def test_both_provenance_and_legacy_extra_is_refused() -> None:
    values = {**preset_config("tiny", {"provenance": PROVENANCE}).to_dict(), "extra": LEGACY_EXTRA}
    with pytest.raises(FiloError, match="both 'provenance' and the old 'extra'"):
        FiLoConfig.from_dict(values)
