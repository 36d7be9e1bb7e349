"""Each phase trains exactly its parameters, and both losses go down."""

from __future__ import annotations

import pytest
import torch

from filo.data.manifest import read_manifest
from filo.data.torch_dataset import AnomalyDataset
from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.training import TrainParams, train
from filo.training.loop import EpochSettings, run_epoch
from filo.training.phases import make_optimizer, train_only, trained_parameters, training_phases

PHASE_PREFIXES = {
    "prompt": ("text.normal_prompt_learner.", "text.abnormal_prompt_learner.", "linear_heads.", "mmci_heads."),
    "adapter": ("adapter.",),
}


@pytest.fixture(scope="module")
def model_and_data(tiny_data):
    torch.manual_seed(0)
    model = FiLo(preset_config("tiny"))
    category = read_manifest(tiny_data.manifest)["category"].iloc[0]
    model.prepare(category, load_descriptions(tiny_data.descriptions)[category].descriptions)
    dataset = AnomalyDataset(read_manifest(tiny_data.manifest), 64, aug_rate=0.0)
    return model, dataset


@pytest.mark.parametrize("phase_index", [0, 1])
def test_a_phase_changes_exactly_its_parameters_and_never_clip(model_and_data, phase_index):
    model, dataset = model_and_data
    phase = training_phases(TrainParams(adapter_lr=1e-3))[phase_index]
    groups = phase.param_groups(model)
    train_only(model, trained_parameters(groups))
    optimizer = make_optimizer(groups, TrainParams())
    clip_ids = {id(p) for p in model.clip.parameters()}
    assert not clip_ids & {id(p) for group in optimizer.param_groups for p in group["params"]}
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.train()
    run_epoch(model, dataset, optimizer, phase.loss, data_epoch=0, label="test",
              settings=EpochSettings(device=torch.device("cpu"), batch_size=3, seed=0, progress=False))
    after = model.state_dict()
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    expected = {key for key in before if key.startswith(PHASE_PREFIXES[phase.name])}
    assert changed == expected
    assert not any(key.startswith("clip.") for key in changed)
    assert all(p.grad is None for p in model.clip.parameters())
    assert optimizer.state  # the optimizer did step


def test_both_losses_go_down(tiny_data, tmp_path):
    params = TrainParams(model_preset="tiny", epochs=3, adapter_epochs=3, adapter_lr=1e-3, batch_size=6,
                         aug_rate=0.0, mlflow=False, progress=False, device="cpu")
    history = train(tiny_data.manifest, tiny_data.descriptions, tmp_path / "m.pt", params).history
    for phase in ("prompt", "adapter"):
        losses = [record["loss"] for record in history if record["phase"] == phase]
        assert len(losses) == 3
        assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0], (phase, losses)


def test_max_steps_per_epoch_stops_each_epoch_early(model_and_data, monkeypatch):
    model, dataset = model_and_data
    phase = training_phases(TrainParams())[0]
    groups = phase.param_groups(model)
    train_only(model, trained_parameters(groups))
    steps = []

    def counting_loss(model, batch, device):
        steps.append(list(batch["image_path"]))
        return phase.loss(model, batch, device)

    settings = EpochSettings(device=torch.device("cpu"), batch_size=1, seed=0, progress=False)
    model.train()
    run_epoch(model, dataset, make_optimizer(groups, TrainParams()), counting_loss, data_epoch=0, label="capped",
              settings=settings, max_steps=2)
    assert len(steps) == 2 < len(dataset)
    with pytest.raises(FiloError, match="max_steps_per_epoch must be >= 1"):
        TrainParams(max_steps_per_epoch=0)


@pytest.mark.parametrize("amp", [False, True])
def test_amp_runs_each_step_under_bf16_autocast_and_fp32_without(model_and_data, amp):
    _, dataset = model_and_data
    weight = torch.nn.Parameter(torch.ones(4, 4))
    dtypes = []

    def loss_function(model, batch, device):
        product = weight @ weight
        dtypes.append(product.dtype)
        return product.float().sum()

    settings = EpochSettings(device=torch.device("cpu"), batch_size=3, seed=0, amp=amp, progress=False)
    run_epoch(None, dataset, torch.optim.SGD([weight], lr=0.0), loss_function, data_epoch=0, label="amp",
              settings=settings)
    assert dtypes and set(dtypes) == {torch.bfloat16 if amp else torch.float32}
