"""Losses against values computed by hand."""

from __future__ import annotations

import math

import torch

from filo.model.losses import adapter_loss, dice_loss, focal_loss, segmentation_loss


def test_focal_loss_hand_values():
    # Two pixels: p(abnormal)=0.8 on an anomalous pixel, 0.3 on a normal one.
    probabilities = torch.tensor([[[[0.2, 0.7]], [[0.8, 0.3]]]])  # [1, 2, 1, 2]
    target = torch.tensor([[[1.0, 0.0]]])
    eps = 1e-5

    def term(p_true, p_other):
        pt = (1 - eps) * p_true + eps * p_other + eps
        return -((1 - pt) ** 2) * math.log(pt)

    expected = (term(0.8, 0.2) + term(0.7, 0.3)) / 2
    assert math.isclose(focal_loss(probabilities, target).item(), expected, rel_tol=1e-6)


def test_dice_loss_hand_values():
    prediction = torch.tensor([[[0.5, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    first = 1 - (2 * 1.5 + 1) / (1.5 + 2 + 1)
    second = 1 - 1 / (4 + 0 + 1)
    assert math.isclose(dice_loss(prediction, target).item(), (first + second) / 2, rel_tol=1e-6)


def test_segmentation_loss_sums_terms_over_layers_and_binarizes_masks():
    g = torch.Generator().manual_seed(0)
    maps = [torch.rand(2, 2, 4, 4, generator=g).softmax(1) for _ in range(3)]
    soft_mask = torch.rand(2, 4, 4, generator=g)
    binary = (soft_mask > 0.5).float()
    expected = sum(
        focal_loss(m, binary) + dice_loss(m[:, 1], binary) + dice_loss(m[:, 0], 1 - binary) for m in maps
    )
    torch.testing.assert_close(segmentation_loss(maps, soft_mask), expected)


def test_perfect_maps_give_low_loss_and_wrong_maps_high():
    mask = torch.zeros(1, 4, 4)
    mask[0, :2] = 1
    perfect = torch.stack([1 - mask, mask], dim=1)
    wrong = torch.stack([mask, 1 - mask], dim=1)
    assert segmentation_loss([perfect], mask) < 0.01
    assert segmentation_loss([wrong], mask) > 2.0


def test_adapter_loss_is_cross_entropy_at_temperature():
    similarities = torch.tensor([[0.1, 0.3], [0.4, 0.2]])
    labels = torch.tensor([1, 0])
    expected = torch.nn.functional.cross_entropy(similarities / 0.07, labels)
    torch.testing.assert_close(adapter_loss(similarities, labels), expected)
