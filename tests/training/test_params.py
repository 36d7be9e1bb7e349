"""Training parameters: defaults, params.yaml, validation, the automatic augmentation rate."""

from __future__ import annotations

import dataclasses

import pytest

from filo.data.manifest import read_manifest
from filo.errors import FiloError
from filo.settings import load_settings
from filo.training import TrainParams
from filo.training.inputs import resolve_aug_rate


def test_defaults_are_the_authors_recipe():
    params = TrainParams()
    assert (params.epochs, params.adapter_epochs) == (15, 5)
    assert (params.prompt_lr, params.head_lr, params.adapter_lr) == (1e-3, 1e-4, 1e-5)
    assert params.betas == (0.5, 0.999)
    assert (params.temperature, params.batch_size, params.aug_rate) == (0.07, 1, None)
    assert (params.dice_reduction, params.mosaic_label, params.amp) == ("authors", "authors", False)
    assert (params.model_preset, params.model_overrides) == ("paper", {})


def test_params_file_section_then_overrides(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("other: {x: 1}\ntrain:\n  epochs: 3\n  betas: [0.9, 0.99]\n  model_overrides: {taps: paper}\n")
    params = load_settings(TrainParams, path, {"batch_size": 4})
    assert (params.epochs, params.batch_size, params.betas) == (3, 4, (0.9, 0.99))
    assert params.model_overrides == {"taps": "paper"}
    assert load_settings(TrainParams) == TrainParams()


@pytest.mark.parametrize(("text", "message"), [
    ("train: {epoch: 3}", r"unknown key\(s\) \['epoch'\] in section 'train' of .*known keys of TrainParams"),
    ("train: {batch_size: 0}", "batch_size must be >= 1, got 0"),
    ("train: {aug_rate: 2}", "aug_rate must lie in"),
    ("train: {device: tpu}", "device must be one of"),
    ("train: {dice_reduction: rows}",
     r"section 'train' of .*params.yaml: dice_reduction must be one of \['authors', 'per_image'\], got 'rows'"),
    ("train: [1, 2]", "section 'train' of .* must be a mapping"),
])
def test_bad_params_files_are_explained(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(FiloError, match=message):
        load_settings(TrainParams, path)


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(FiloError, match=f"params file {tmp_path / 'nope.yaml'} does not exist"):
        load_settings(TrainParams, tmp_path / "nope.yaml")


def test_runtime_settings_are_not_part_of_the_fingerprint():
    base = TrainParams()
    runtime = dataclasses.replace(base, num_workers=4, mlflow=False, progress=False, device="cpu")
    assert runtime.fingerprint_dict() == base.fingerprint_dict()
    for changed in ({"seed": 1}, {"dice_reduction": "per_image"}, {"mosaic_label": "mosaic"}, {"amp": True}):
        assert dataclasses.replace(base, **changed).fingerprint_dict() != base.fingerprint_dict(), changed


def test_automatic_aug_rate_follows_the_source_layout(tiny_data, eval_data, tmp_path):
    assert resolve_aug_rate(None, read_manifest(tiny_data.manifest)) == 0.2
    assert resolve_aug_rate(None, read_manifest(eval_data.manifest)) == 0.0
    assert resolve_aug_rate(0.3, read_manifest(eval_data.manifest)) == 0.3
    moved = read_manifest(tiny_data.manifest)
    moved.attrs["root"] = str(tmp_path / "gone")
    with pytest.raises(FiloError, match="set train.aug_rate"):
        resolve_aug_rate(None, moved)
