"""The bottleneck adapter on the global image feature (trained in phase 2)."""

from __future__ import annotations

import torch
from torch import nn


class Adapter(nn.Module):
    """`Linear(d→d/2) → ReLU → Linear(d/2→d) → SiLU`, no biases.

    `residual=True` adds the input back (the authors' code, which produced their
    checkpoints); `residual=False` is the paper's best variant (Table 14).
    """

    def __init__(self, dim: int, *, reduction: int = 2, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.fc = nn.Sequential(
            nn.Linear(dim, dim // reduction, bias=False),
            nn.ReLU(),
            nn.Linear(dim // reduction, dim, bias=False),
            nn.SiLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y + x if self.residual else y
