"""`train`: reproducibility, checkpoints, NaN handling, resume, zero-shot overlap refusal."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import filo.training.phases
from filo.data.manifest import read_manifest
from filo.data.torch_dataset import AnomalyDataset
from filo.errors import FiloError
from filo.io import sha256_file
from filo.model.checkpoint import load_checkpoint, read_payload, write_initial_checkpoint
from filo.model.config import TrainingProvenance
from filo.training import TrainParams, train, training_state_path


def _weights(path):
    return read_payload(path)["state_dict"]


def _assert_same_weights(first, second):
    assert first.keys() == second.keys()
    different = [key for key in first if not torch.equal(first[key], second[key])]
    assert not different, f"tensors differ: {different}"


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    """An uninterrupted run (2 + 1 epochs of 2 batches), trained once for this module."""
    params = TrainParams(model_preset="tiny", epochs=2, adapter_epochs=1, batch_size=3, aug_rate=0.5,
                         mlflow=False, progress=False, device="cpu")
    return params, train(tiny_data.manifest, tiny_data.descriptions,
                         tmp_path_factory.mktemp("reference") / "filo.pt", params)


def test_same_seed_gives_the_same_checkpoint(tiny_data, tmp_path, reference):
    params, first = reference
    again = train(tiny_data.manifest, tiny_data.descriptions, tmp_path / "again.pt", params)
    _assert_same_weights(_weights(first.checkpoint), _weights(again.checkpoint))
    assert first.history == again.history


def test_the_seed_decides_the_initial_weights(tiny_data, tmp_path, quick_params):
    untrained = dataclasses.replace(quick_params, epochs=0, adapter_epochs=0)
    seed0, seed0_again, seed1 = (
        _weights(train(tiny_data.manifest, tiny_data.descriptions, tmp_path / f"{name}.pt",
                       dataclasses.replace(untrained, seed=seed)).checkpoint)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    )
    _assert_same_weights(seed0, seed0_again)
    assert all(not torch.equal(seed0[key], seed1[key]) for key in seed0 if seed0[key].numel() > 1)


def test_checkpoint_reproduces_the_trained_model_and_records_provenance(tiny_data, reference):
    _, result = reference
    loaded = load_checkpoint(result.checkpoint).eval()
    loaded.prepare(tiny_data.category, ("thin scratch",))
    dataset = AnomalyDataset(read_manifest(tiny_data.manifest), loaded.config.image_size)
    images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    expected = result.model.predict(images, tiny_data.category)
    actual = loaded.predict(images, tiny_data.category)
    assert torch.equal(expected.score, actual.score)
    assert torch.equal(expected.anomaly_map, actual.anomaly_map)
    assert loaded.config.provenance == TrainingProvenance(
        train_dataset="synth_mvtec",
        trained_categories=(tiny_data.category,),
        manifest_sha256=sha256_file(tiny_data.manifest),
        descriptions_sha256=sha256_file(tiny_data.descriptions),
        epochs=2,
        adapter_epochs=1,
        seed=0,
    )
    assert not training_state_path(result.checkpoint).parent.exists()


def _nan_at_call(monkeypatch, call: int) -> None:
    """Make the phase-1 loss NaN at its `call`-th evaluation (1-based)."""
    real = filo.training.phases.segmentation_loss
    calls = {"n": 0}

    def loss(layer_maps, masks, **kwargs):
        calls["n"] += 1
        value = real(layer_maps, masks, **kwargs)
        return value * float("nan") if calls["n"] == call else value

    monkeypatch.setattr(filo.training.phases, "segmentation_loss", loss)


def test_nan_loss_stops_naming_the_step_keeps_the_last_state_and_resume_matches(
        tiny_data, tmp_path, reference, monkeypatch):
    params, uninterrupted = reference
    out = tmp_path / "filo.pt"
    _nan_at_call(monkeypatch, call=3)  # epoch 2 of phase 1 (2 batches per epoch), first step
    with pytest.raises(FiloError) as error:
        train(tiny_data.manifest, tiny_data.descriptions, out, params)
    message = str(error.value)
    assert "prompt epoch 2/2, step 1/2" in message and "nan" in message
    assert str(tiny_data.root) in message  # the batch's image paths
    assert f"stays at {training_state_path(out)}" in message
    assert not out.exists()
    state = torch.load(training_state_path(out), weights_only=True)
    assert (state["phase"], state["epochs_done"]) == ("prompt", 1)
    monkeypatch.undo()
    with pytest.raises(FiloError, match=r"seed: 0 → 1"):
        train(tiny_data.manifest, tiny_data.descriptions, out, dataclasses.replace(params, seed=1), resume=True)
    resumed = train(tiny_data.manifest, tiny_data.descriptions, out, params, resume=True)
    _assert_same_weights(_weights(uninterrupted.checkpoint), _weights(resumed.checkpoint))
    assert resumed.history == uninterrupted.history


def test_training_categories_shared_with_the_evaluation_set_are_refused(tiny_data, eval_data, tmp_path,
                                                                        quick_params):
    with pytest.raises(FiloError, match=rf"training categories \['{tiny_data.category}'\] also appear"):
        train(tiny_data.manifest, tiny_data.descriptions, tmp_path / "m.pt", quick_params,
              eval_manifest_path=tiny_data.manifest)
    assert not (tmp_path / "m.pt").exists()


def test_missing_descriptions_are_named(tiny_data, eval_data, tmp_path, quick_params):
    with pytest.raises(FiloError, match=rf"no entry for categories \['{tiny_data.category}'\]"):
        train(tiny_data.manifest, eval_data.descriptions, tmp_path / "m.pt", quick_params)


def test_an_init_checkpoint_gives_the_config_and_the_starting_weights(tiny_data, tmp_path, quick_params):
    init = write_initial_checkpoint("tiny", tmp_path / "init.pt", {"n_ctx": 4})
    untrained = dataclasses.replace(quick_params, epochs=0, adapter_epochs=0, model_overrides={"n_ctx": 8})
    result = train(tiny_data.manifest, tiny_data.descriptions, tmp_path / "m.pt", untrained, init=init)
    assert read_payload(result.checkpoint)["config"]["n_ctx"] == 4
    _assert_same_weights(_weights(init), _weights(result.checkpoint))
