"""One training epoch: category batches in a reproducible order, a progress bar, a loss guard."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm import tqdm

from filo.data.torch_dataset import AnomalyDataset, category_batches
from filo.errors import FiloError
from filo.model.filo import FiLo
from filo.model.precision import amp_precision, autocast
from filo.training.phases import LossFunction


@dataclass(frozen=True)
class EpochSettings:
    """How an epoch runs (none of these change which batches it sees)."""

    device: torch.device
    batch_size: int
    seed: int
    amp: bool = False
    """bf16 autocast on the training device (a speed option; the authors train in fp32)."""
    num_workers: int = 0
    progress: bool = True


def run_epoch(
    model: FiLo,
    dataset: AnomalyDataset,
    optimizer: torch.optim.Optimizer,
    loss_function: LossFunction,
    *,
    data_epoch: int,
    label: str,
    settings: EpochSettings,
    recovery_hint: str = "",
    max_steps: int | None = None,
) -> float:
    """Train `model` for one pass over `dataset` (its first `max_steps` batches when given); returns the mean batch loss.

    `data_epoch` selects the batch order and augmentation draws (the same number always
    gives the same batches). A non-finite loss raises FiloError naming `label` (phase and
    epoch), the step and the batch's image paths, before any weight is updated;
    `recovery_hint` is appended to its message.
    """
    dataset.set_epoch(data_epoch)
    batches = category_batches(dataset.rows, settings.batch_size, seed=settings.seed, epoch=data_epoch)
    if max_steps is not None:
        batches = batches[:max_steps]
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=settings.num_workers,
        pin_memory=settings.device.type == "cuda",
    )
    total = 0.0
    bar = tqdm(loader, total=len(batches), desc=label, unit="batch", disable=not settings.progress, leave=False)
    for step, batch in enumerate(bar, start=1):
        with autocast(settings.device, amp_precision(settings.amp)):
            loss = loss_function(model, batch, settings.device)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FiloError(
                f"{label}, step {step}/{len(batches)}: the loss is {value} for image(s) "
                f"{list(batch['image_path'])}; check these images and masks, or lower the learning rates"
                f"{recovery_hint}"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += value
        bar.set_postfix(loss=f"{total / step:.4f}")
    bar.close()
    return total / max(len(batches), 1)
