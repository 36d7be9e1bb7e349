"""The two training phases: which parameters each trains, at which rates, and with which loss.

Phase `prompt` (1): context vectors + meta-nets of both prompt learners and the
linear/MMCI heads, focal + dice losses over the layer maps (dice reduced as the params'
`dice_reduction` says; by default per image row at a batch of one image, as the authors).
Phase `adapter` (2): the adapter alone, cross-entropy over the global [normal, abnormal]
similarities. The frozen CLIP is never part of any phase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from filo.model.filo import FiLo
from filo.model.losses import adapter_loss, segmentation_loss
from filo.training.params import TrainParams

LossFunction = Callable[[FiLo, dict[str, Any], torch.device], torch.Tensor]


@dataclass(frozen=True)
class Phase:
    """One training phase: its epochs, optimizer parameter groups and per-batch loss."""

    name: str
    epochs: int
    param_groups: Callable[[FiLo], list[dict[str, Any]]]
    """The optimizer's parameter groups, each with a `name` and an `lr`."""
    loss: LossFunction


def trained_parameters(groups: list[dict[str, Any]]) -> list[torch.nn.Parameter]:
    """Every parameter of a phase's groups."""
    return [parameter for group in groups for parameter in group["params"]]


def train_only(model: FiLo, parameters: list[torch.nn.Parameter]) -> None:
    """Let gradients reach exactly `parameters`: the frozen CLIP and the other phase's modules stay frozen."""
    chosen = {id(parameter) for parameter in parameters}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in chosen)


def make_optimizer(groups: list[dict[str, Any]], params: TrainParams) -> torch.optim.AdamW:
    """AdamW over a phase's groups with the run's betas and weight decay."""
    return torch.optim.AdamW(groups, betas=params.betas, weight_decay=params.weight_decay)


def _segmentation_step(model: FiLo, batch: dict[str, Any], device: torch.device, params: TrainParams
                       ) -> torch.Tensor:
    output = model(batch["image"].to(device, non_blocking=True), batch["category"][0], use_adapter=False)
    masks = batch["mask"][:, 0].to(device, non_blocking=True)
    return segmentation_loss([layer.float() for layer in output.layer_maps], masks, gamma=params.focal_gamma,
                             dice_reduction=params.dice_reduction)


def _adapter_step(model: FiLo, batch: dict[str, Any], device: torch.device, temperature: float) -> torch.Tensor:
    output = model(batch["image"].to(device, non_blocking=True), batch["category"][0],
                   use_adapter=True, compute_maps=False, text_grad=False)
    labels = torch.as_tensor(batch["label"]).to(device, non_blocking=True)
    return adapter_loss(output.global_similarities.float(), labels, temperature=temperature)


def training_phases(params: TrainParams) -> list[Phase]:
    """Phase 1 then phase 2, configured from `params`."""
    def prompt_groups(model: FiLo) -> list[dict[str, Any]]:
        learners = (model.text.normal_prompt_learner, model.text.abnormal_prompt_learner)
        heads = (model.linear_heads, model.mmci_heads)
        return [
            {"name": "prompt", "lr": params.prompt_lr,
             "params": [p for module in learners for p in module.parameters()]},
            {"name": "heads", "lr": params.head_lr,
             "params": [p for module in heads for p in module.parameters()]},
        ]

    def adapter_groups(model: FiLo) -> list[dict[str, Any]]:
        return [{"name": "adapter", "lr": params.adapter_lr, "params": list(model.adapter.parameters())}]

    def segmentation_step(model: FiLo, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
        return _segmentation_step(model, batch, device, params)

    def adapter_step(model: FiLo, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
        return _adapter_step(model, batch, device, params.temperature)

    return [
        Phase("prompt", params.epochs, prompt_groups, segmentation_step),
        Phase("adapter", params.adapter_epochs, adapter_groups, adapter_step),
    ]
