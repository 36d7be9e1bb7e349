"""A FiLo model from a named preset: what `filo.create_model` returns (as open_clip's `create_model` does)."""

from __future__ import annotations

from typing import Any

import torch

from filo.model.config import preset_config
from filo.model.filo import FiLo


def create_model(preset: str = "paper", /, *, seed: int = 0, **overrides: Any) -> FiLo:
    """An untrained FiLo of `preset` (a file of filo/presets/) with FiLoConfig field `overrides`, in eval mode.

    The CLIP backbone holds its preset's weights (e.g. OpenAI's for "paper"; "tiny": random,
    from `clip_seed`); the heads, prompt learners and adapter are initialised from `seed`,
    without moving torch's global random state. Trained weights come from a checkpoint
    (`filo.model.checkpoint.load_checkpoint`). An unknown preset or field is a FiloError
    listing the known ones.
    """
    config = preset_config(preset, overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FiLo(config)
    return model.eval()
