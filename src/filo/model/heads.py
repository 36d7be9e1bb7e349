"""Trainable heads that map patch tokens into the joint text-image space.

QKV-path tokens go through one linear layer per tap; VV-path tokens go through MMCI
(multi-shape compound convolutions: 1x1, 3x3, 5x5, 7x7, 1x5, 5x1, "same" padding,
summed). The six convolutions are linear and summed, so they fold exactly into one
7x7 convolution (ACNet-style re-parameterization); `MMCIHeads(fold=True)` uses the
folded kernel, which gives the same outputs up to float rounding with about half the
multiply-adds.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

MMCI_KERNELS: dict[str, tuple[int, int]] = {
    "conv1x1": (1, 1),
    "conv3x3": (3, 3),
    "conv5x5": (5, 5),
    "conv7x7": (7, 7),
    "conv1x5": (1, 5),
    "conv5x1": (5, 1),
}
"""MMCI branch name → kernel (rows, cols). The authors call them fc_11, fc_33, fc_55, fc_77, fc_15, fc_51."""


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """[B, N, C] patch tokens → [B, C, rows, cols]."""
    batch, count, channels = tokens.shape
    if count != grid[0] * grid[1]:
        raise ValueError(f"{count} tokens do not fill a {grid[0]}x{grid[1]} grid")
    return tokens.transpose(1, 2).reshape(batch, channels, grid[0], grid[1])


class LinearHeads(nn.Module):
    """One `Linear(width → embed_dim)` per QKV tap."""

    def __init__(self, width: int, embed_dim: int, count: int) -> None:
        super().__init__()
        self.fc = nn.ModuleList(nn.Linear(width, embed_dim) for _ in range(count))

    def forward(self, tokens: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per tap [B, N, width] → [B, N, embed_dim]."""
        if len(tokens) != len(self.fc):
            raise ValueError(f"expected {len(self.fc)} token tensors, got {len(tokens)}")
        return [fc(t) for fc, t in zip(self.fc, tokens)]


class MMCIHeads(nn.Module):
    """MMCI per VV tap: six parallel "same"-padded convolutions on the token grid, summed."""

    def __init__(self, width: int, embed_dim: int, count: int, *, fold: bool = True) -> None:
        super().__init__()
        self.count = count
        self.fold = fold
        for name, kernel in MMCI_KERNELS.items():
            convs = nn.ModuleList(nn.Conv2d(width, embed_dim, kernel, padding="same") for _ in range(count))
            self.add_module(name, convs)
        self._folded_cache: dict[int, tuple[tuple, torch.Tensor, torch.Tensor]] = {}

    def branches(self, index: int) -> list[nn.Conv2d]:
        """The six convolutions of tap `index`."""
        return [getattr(self, name)[index] for name in MMCI_KERNELS]

    def folded_kernel(self, indices: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """The 7x7 (weight, bias) equal to the sum of each tap's six convolutions, taps stacked on output channels."""
        key = tuple((id(p), p._version) for index in indices for conv in self.branches(index)
                    for p in (conv.weight, conv.bias))
        cached = self._folded_cache.get(indices)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        weights, biases = [], []
        for index in indices:
            convs = self.branches(index)
            first = convs[0].weight
            weight = first.new_zeros(first.shape[0], first.shape[1], 7, 7)
            for conv in convs:
                rows, cols = conv.kernel_size
                top, left = (7 - rows) // 2, (7 - cols) // 2
                weight[:, :, top:top + rows, left:left + cols] += conv.weight.detach()
            weights.append(weight)
            biases.append(torch.stack([conv.bias.detach() for conv in convs]).sum(0))
        weight, bias = torch.cat(weights), torch.cat(biases)
        self._folded_cache[indices] = (key, weight, bias)
        return weight, bias

    def forward(self, tokens: list[torch.Tensor], grid: tuple[int, int]) -> list[torch.Tensor]:
        """Per tap [B, N, width] → [B, N, embed_dim]. Folds only when no gradient is needed.

        Folded, the taps that read the same tensor object (under the authors' taps, every
        VV tap is the final VV path) share one convolution with their kernels stacked.
        """
        if len(tokens) != self.count:
            raise ValueError(f"expected {self.count} token tensors, got {len(tokens)}")
        if self.fold and not torch.is_grad_enabled():
            return self._folded_forward(tokens, grid)
        return [
            sum(conv(tokens_to_grid(t, grid)) for conv in self.branches(index)).flatten(2).transpose(1, 2)
            for index, t in enumerate(tokens)
        ]

    def _folded_forward(self, tokens: list[torch.Tensor], grid: tuple[int, int]) -> list[torch.Tensor]:
        return folded_forward(tokens, grid, self.folded_kernel)


def folded_forward(
    tokens: list[torch.Tensor],
    grid: tuple[int, int],
    kernel: Callable[[tuple[int, ...]], tuple[torch.Tensor, torch.Tensor]],
) -> list[torch.Tensor]:
    """MMCI with folded 7x7 kernels: per tap [B, N, width] -> [B, N, embed_dim].

    Taps that read the same tensor object share one convolution; `kernel(indices)` gives
    their folded (weight, bias), stacked on output channels in the order of `indices`.
    """
    groups: dict[int, list[int]] = {}
    for index, t in enumerate(tokens):
        groups.setdefault(id(t), []).append(index)
    outputs: list[torch.Tensor] = [torch.empty(0)] * len(tokens)
    for indices in groups.values():
        x = tokens_to_grid(tokens[indices[0]], grid)
        weight, bias = kernel(tuple(indices))
        y = F.conv2d(x, weight.to(x.dtype), bias.to(x.dtype), padding=3)
        for index, part in zip(indices, y.chunk(len(indices), dim=1)):
            outputs[index] = part.flatten(2).transpose(1, 2)
    return outputs
