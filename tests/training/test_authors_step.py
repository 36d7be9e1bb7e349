"""One phase-1 training step at batch size 1 equals the authors' step on the same maps.

The reference below re-implements the authors' loss rules independently of
`filo.model.losses`: the mask is squeezed (leaving [H, W] at batch size 1) and binarized
at 0.5; per layer map, focal loss (γ = 2, one-hot clamped to [1e-5, 1 − 1e-5], pt + 1e-5)
on the 2-channel map, plus dice on the abnormal map against the mask and on the normal map
against its complement, where dice takes N = the squeezed mask's first dimension, i.e.
one dice per image row; summed over the 7 layer maps.
"""

from __future__ import annotations

import pytest
import torch

from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.training import TrainParams
from filo.training.phases import train_only, trained_parameters, training_phases

CATEGORY = "round_part"
SIZE = 64


def _authors_focal(logit: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, smooth: float = 1e-5):
    """Their FocalLoss on softmax maps [B, 2, H, W] and a squeezed target, pixels flattened."""
    classes = logit.shape[1]
    flat = logit.reshape(logit.shape[0], classes, -1).permute(0, 2, 1).reshape(-1, classes)
    index = target.reshape(-1, 1).long()
    one_hot = torch.zeros(index.shape[0], classes).scatter_(1, index, 1)
    one_hot = torch.clamp(one_hot, smooth / (classes - 1), 1.0 - smooth)
    pt = (one_hot * flat).sum(1) + smooth
    return (-1 * torch.pow(1 - pt, gamma) * pt.log()).mean()


def _authors_dice(prediction: torch.Tensor, target: torch.Tensor):
    """Their BinaryDiceLoss: N = target.size(0), both viewed as (N, -1), smoothing 1."""
    n = target.size(0)
    x, y = prediction.reshape(n, -1), target.reshape(n, -1)
    dice = (2 * (x * y).sum(1) + 1) / (x.sum(1) + y.sum(1) + 1)
    return 1 - dice.sum() / n


def _authors_loss(layer_maps: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    gt = mask.squeeze().clone()
    gt[gt > 0.5], gt[gt <= 0.5] = 1, 0
    loss = 0
    for maps in layer_maps:
        loss = loss + _authors_focal(maps, gt)
        loss = loss + _authors_dice(maps[:, 1, :, :], gt)
        loss = loss + _authors_dice(maps[:, 0, :, :], 1 - gt)
    return loss


@pytest.fixture(scope="module")
def model() -> FiLo:
    torch.manual_seed(0)
    filo = FiLo(preset_config("tiny"))
    filo.prepare(CATEGORY, ("thin scratch", "small hole"))
    return filo.train()


def _batch(anomalous: bool) -> dict:
    """One image; a soft mask (values on both sides of 0.5, and exactly 0.5) over a rectangle."""
    generator = torch.Generator().manual_seed(3)
    mask = torch.zeros(1, 1, SIZE, SIZE)
    if anomalous:
        mask[..., 10:30, 20:44] = 0.9
        mask[..., 30:34, 20:44] = 0.5  # not anomalous: binarized with "> 0.5"
        mask[..., 34:36, 20:44] = 0.51
    return {"image": torch.randn(1, 3, SIZE, SIZE, generator=generator), "mask": mask, "category": [CATEGORY]}


def _step(model: FiLo, batch: dict, params: TrainParams) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss and gradients of filo's phase-1 step (the loss function `filo train` runs)."""
    phase = training_phases(params)[0]
    parameters = trained_parameters(phase.param_groups(model))
    train_only(model, parameters)
    model.zero_grad(set_to_none=True)
    loss = phase.loss(model, batch, torch.device("cpu"))
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in parameters]


def _reference(model: FiLo, batch: dict, parameters: list[torch.nn.Parameter]):
    model.zero_grad(set_to_none=True)
    layer_maps = model(batch["image"], CATEGORY, use_adapter=False).layer_maps
    assert len(layer_maps) == 7
    loss = _authors_loss(layer_maps, batch["mask"])
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in parameters]


@pytest.mark.parametrize(("anomalous", "batch_size"), [(True, 1), (False, 4)])
def test_phase1_step_at_batch_size_one_equals_the_authors_rules(model, anomalous, batch_size):
    """`batch_size` 4: the one-image batch is a run's trailing batch; the rule follows the batch."""
    batch = _batch(anomalous)
    params = TrainParams(model_preset="tiny", batch_size=batch_size)
    loss, grads = _step(model, batch, params)
    parameters = trained_parameters(training_phases(params)[0].param_groups(model))
    reference_loss, reference_grads = _reference(model, batch, parameters)
    torch.testing.assert_close(loss, reference_loss, rtol=1e-6, atol=1e-6)
    assert len(grads) == len(reference_grads) > 0
    for grad, reference in zip(grads, reference_grads):
        torch.testing.assert_close(grad, reference, rtol=1e-4, atol=1e-7)
    assert all(p.grad is None for p in model.clip.parameters())
    per_image_loss, _ = _step(model, batch, TrainParams(model_preset="tiny", dice_reduction="per_image"))
    assert abs(float(per_image_loss - reference_loss)) > 1e-3  # the test tells the two rules apart
