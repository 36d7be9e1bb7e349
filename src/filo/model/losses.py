"""Training losses, matching the authors' definitions (not the squared dice of the paper's Eq. 8)."""

from __future__ import annotations

import torch

from filo.errors import FiloError
from filo.model.config import DICE_REDUCTIONS, DiceReduction

FOCAL_SMOOTH = 1e-5


def focal_loss(probabilities: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss of 2-channel softmax maps [B, 2, H, W] against binary masks [B, H, W].

    One-hot target clamped to [1e-5, 1 − 1e-5]; pt = Σ_c onehot·p + 1e-5;
    loss = mean over pixels of −(1 − pt)^γ · log pt.
    """
    positive = target > 0.5
    one_hot = torch.stack([~positive, positive], dim=1).to(probabilities.dtype)
    one_hot = one_hot.clamp(FOCAL_SMOOTH, 1.0 - FOCAL_SMOOTH)
    pt = (one_hot * probabilities).sum(dim=1) + FOCAL_SMOOTH
    return (-((1 - pt) ** gamma) * pt.log()).mean()


def dice_loss(prediction: torch.Tensor, target: torch.Tensor, *,
              reduction: DiceReduction = "authors") -> torch.Tensor:
    """Mean of 1 − (2·Σxy + 1) / (Σx + Σy + 1) over the units `reduction` picks in [B, H, W].

    Units: images, or (`authors` with B = 1) the rows of the single image; see DICE_REDUCTIONS.
    """
    if reduction not in DICE_REDUCTIONS:
        raise FiloError(f"dice reduction must be one of {DICE_REDUCTIONS}, got {reduction!r}")
    if reduction == "authors" and prediction.shape[0] == 1:
        x, y = prediction[0], target[0]
    else:
        x, y = prediction.flatten(1), target.flatten(1)
    y = y.to(x.dtype)
    dice = (2 * (x * y).sum(1) + 1) / (x.sum(1) + y.sum(1) + 1)
    return (1 - dice).mean()


def segmentation_loss(layer_maps: list[torch.Tensor], masks: torch.Tensor, *, gamma: float = 2.0,
                      dice_reduction: DiceReduction = "authors") -> torch.Tensor:
    """Phase-1 loss: Σ over layer maps of focal(γ) + dice(M_a, G) + dice(M_n, 1 − G).

    `masks` [B, H, W] are binarized at 0.5 here, whatever the caller passed.
    """
    target = (masks > 0.5).to(layer_maps[0].dtype)
    total = layer_maps[0].new_zeros(())
    for probabilities in layer_maps:
        total = total + focal_loss(probabilities, target, gamma=gamma)
        total = total + dice_loss(probabilities[:, 1], target, reduction=dice_reduction)
        total = total + dice_loss(probabilities[:, 0], 1 - target, reduction=dice_reduction)
    return total


def adapter_loss(global_similarities: torch.Tensor, labels: torch.Tensor, *, temperature: float = 0.07) -> torch.Tensor:
    """Phase-2 loss: cross-entropy of the [normal, abnormal] similarities [B, 2] / temperature."""
    return torch.nn.functional.cross_entropy(global_similarities / temperature, labels.long())
