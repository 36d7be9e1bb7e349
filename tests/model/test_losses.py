"""Losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from filo.errors import FiloError
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


def test_dice_of_a_single_image_is_per_row_under_the_authors_rule_and_per_image_otherwise():
    prediction = torch.tensor([[[0.5, 1.0], [0.0, 0.0]]])  # one image, 2 rows
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    first_row = 1 - (2 * 1.5 + 1) / (1.5 + 2 + 1)  # 1/9
    second_row = 1 - (0 + 1) / (0 + 0 + 1)  # 0: an empty row with an empty target is a perfect match
    whole_image = 1 - (2 * 1.5 + 1) / (1.5 + 2 + 1)
    assert math.isclose(dice_loss(prediction, target).item(), (first_row + second_row) / 2, rel_tol=1e-6)
    assert math.isclose(dice_loss(prediction, target, reduction="authors").item(), 1 / 18, rel_tol=1e-6)
    per_image = dice_loss(prediction, target, reduction="per_image").item()
    assert math.isclose(per_image, whole_image, rel_tol=1e-6)


def test_dice_of_a_batch_is_per_image_under_both_rules():
    prediction = torch.tensor([[[0.5, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    expected = ((1 - 4 / 4.5) + (1 - 1 / 5)) / 2
    for reduction in ("authors", "per_image"):
        assert math.isclose(dice_loss(prediction, target, reduction=reduction).item(), expected, rel_tol=1e-6)


def test_unknown_dice_reduction_is_refused():
    with pytest.raises(FiloError, match=r"one of \('authors', 'per_image'\), got 'rows'"):
        dice_loss(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), reduction="rows")


def test_segmentation_loss_uses_the_dice_rule_it_is_given():
    mask = torch.zeros(1, 4, 4)
    mask[0, 1:3, 1:3] = 1
    maps = [torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(2)).softmax(1)]
    for rule in ("authors", "per_image"):
        m = maps[0]
        expected = (focal_loss(m, mask) + dice_loss(m[:, 1], mask, reduction=rule)
                    + dice_loss(m[:, 0], 1 - mask, reduction=rule))
        torch.testing.assert_close(segmentation_loss(maps, mask, dice_reduction=rule), expected)
    assert segmentation_loss(maps, mask) == segmentation_loss(maps, mask, dice_reduction="authors")
    assert segmentation_loss(maps, mask) != segmentation_loss(maps, mask, dice_reduction="per_image")


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
