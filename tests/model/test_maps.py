"""Anomaly maps, smoothing, scores and box suppression against hand computations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms import GaussianBlur

from filo.model.maps import (
    combine_layer_maps,
    global_abnormal_value,
    image_score,
    layer_maps,
    stack_text_features,
    suppress_outside_boxes,
)


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_text_features_are_divided_by_sqrt_two():
    normal, abnormal = _unit(3, 8, seed=1), _unit(3, 8, seed=2)
    stacked = stack_text_features(normal, abnormal)
    torch.testing.assert_close(stacked[:, 0], normal / math.sqrt(2))
    torch.testing.assert_close(stacked[:, 1], abnormal / math.sqrt(2))


def test_layer_maps_hand_computation():
    tokens = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(3))
    text = stack_text_features(_unit(2, 8, seed=4), _unit(2, 8, seed=5))
    maps = layer_maps(tokens, text, (2, 2), 6)
    assert maps.shape == (2, 2, 6, 6)
    torch.testing.assert_close(maps.sum(1), torch.ones(2, 6, 6))
    # Corner pixels with align_corners=True are exactly the corner patches.
    logits = 100 * F.normalize(tokens, dim=-1) @ text.transpose(1, 2)
    torch.testing.assert_close(maps[:, :, 0, 0], logits[:, 0].softmax(-1))
    torch.testing.assert_close(maps[:, :, -1, -1], logits[:, 3].softmax(-1))


def test_combine_layer_maps_matches_torchvision_blur_and_mean():
    g = torch.Generator().manual_seed(6)
    maps = [torch.rand(2, 2, 9, 9, generator=g).softmax(1) for _ in range(3)]
    blur = GaussianBlur(3, 4.0)
    expected = torch.stack([blur((m[:, 1] - m[:, 0] + 1) / 2) for m in maps]).mean(0)
    torch.testing.assert_close(combine_layer_maps(maps), expected)
    unsmoothed = combine_layer_maps(maps, kernel_size=0)
    torch.testing.assert_close(unsmoothed, torch.stack([(m[:, 1] - m[:, 0] + 1) / 2 for m in maps]).mean(0))


def test_image_score_fuses_global_value_and_map_max():
    image = _unit(2, 8, seed=7)
    text = stack_text_features(_unit(2, 8, seed=8), _unit(2, 8, seed=9))
    value = global_abnormal_value(image, text)
    torch.testing.assert_close(value, (image * text[:, 1]).sum(-1))
    anomaly_map = torch.zeros(2, 4, 4)
    anomaly_map[0, 1, 2] = 0.9
    anomaly_map[1, 3, 3] = 0.4
    torch.testing.assert_close(image_score(value, anomaly_map), (value + torch.tensor([0.9, 0.4])) / 2)


def test_box_suppression_scales_outside_only():
    anomaly_map = torch.full((1, 4, 4), 0.5)
    keep = torch.zeros(1, 4, 4, dtype=torch.bool)
    keep[0, 1:3, 1:3] = True
    out = suppress_outside_boxes(anomaly_map, keep, 0.7)
    assert torch.all(out[keep] == 0.5)
    assert torch.allclose(out[~keep], torch.tensor(0.35))
    everything_scaled = suppress_outside_boxes(anomaly_map, torch.zeros_like(keep), 0.7)
    assert torch.allclose(everything_scaled, torch.tensor(0.35))
