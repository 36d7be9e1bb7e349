"""From head outputs and text features to anomaly maps, image scores and box suppression."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

MAP_LOGIT_SCALE = 100.0
"""Scale of the patch-text cosine similarities before the softmax (CLIP's logit scale)."""


def stack_text_features(normal: torch.Tensor, abnormal: torch.Tensor) -> torch.Tensor:
    """[B, D] F_n and F_a → [B, 2, D], divided by their joint norm as the authors do.

    Both inputs are unit vectors, so the joint norm is √2: the effective map logit scale
    is 100/√2 and the global "probability" is a cosine / √2.
    """
    stacked = torch.stack([normal, abnormal], dim=1)
    return stacked / stacked.flatten(1).norm(dim=1)[:, None, None]


def layer_maps(
    tokens: torch.Tensor, text_features: torch.Tensor, grid: tuple[int, int], size: int
) -> torch.Tensor:
    """Normal/abnormal probability maps [B, 2, size, size] of one layer's head tokens [B, N, D].

    Cosine similarity × 100 with [F_n, F_a], bilinearly upsampled (align_corners=True) to
    the input size, then a softmax over the two channels (the authors upsample the logits
    and take the softmax afterwards).
    """
    tokens = F.normalize(tokens, dim=-1)
    logits = MAP_LOGIT_SCALE * tokens @ text_features.transpose(1, 2)
    batch = logits.shape[0]
    logits = logits.transpose(1, 2).reshape(batch, 2, grid[0], grid[1])
    logits = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=True)
    return logits.softmax(dim=1)


def combine_layer_maps(
    maps: list[torch.Tensor], *, kernel_size: int = 3, sigma: float = 4.0
) -> torch.Tensor:
    """Anomaly map [B, H, W]: per layer (M_a − M_n + 1) / 2, Gaussian-smoothed, averaged over layers.

    `kernel_size`/`sigma` default to the authors' code (3, 4.0); the paper states σ = 4.
    `kernel_size=0` disables smoothing.
    """
    combined = []
    for probabilities in maps:
        anomaly = (probabilities[:, 1] - probabilities[:, 0] + 1) / 2
        if kernel_size:
            anomaly = gaussian_blur(anomaly[:, None], [kernel_size, kernel_size], [sigma, sigma])[:, 0]
        combined.append(anomaly)
    return torch.stack(combined).mean(dim=0)


def global_abnormal_value(global_feature: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """[B] similarity of the normalized global feature to F_a under the joint-norm scaling."""
    return (global_feature[:, None, :] * text_features).sum(-1)[:, 1]


def image_score(global_abnormal: torch.Tensor, anomaly_map: torch.Tensor) -> torch.Tensor:
    """[B] image score: the mean of the global abnormal value and the map's maximum.

    The maximum is taken on the map before box suppression, as in the authors' code.
    """
    return (global_abnormal + anomaly_map.flatten(1).max(dim=1).values) / 2


def suppress_outside_boxes(anomaly_map: torch.Tensor, keep: torch.Tensor, lam: float) -> torch.Tensor:
    """Multiply the pixels of `anomaly_map` [B, H, W] outside `keep` [B, H, W] (bool) by λ.

    An all-False `keep` (no box survived) scales the whole map by λ, as the authors do.
    """
    if keep.shape != anomaly_map.shape:
        raise ValueError(f"keep mask {tuple(keep.shape)} does not match map {tuple(anomaly_map.shape)}")
    return torch.where(keep, anomaly_map, anomaly_map * lam)
