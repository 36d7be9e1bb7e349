"""Training FiLo: phase 1 (prompt learners + linear/MMCI heads), then phase 2 (adapter).

Entry point: `train(manifest_path, descriptions_path, out, params, *, eval_manifest_path, init, resume)`
with `TrainParams` (every number of the recipe; `filo.settings.load_settings` reads it from `params.yaml`).
`train`, `TrainResult` and `training_state_path` are imported on first use, so that reading
`TrainParams` (the CLI does at start-up) does not load torch and open_clip.
"""

from __future__ import annotations

from filo import lazy_attributes
from filo.training.params import TrainParams

__all__ = ["TrainParams", "TrainResult", "train", "training_state_path"]

_LAZY = {"TrainResult": "filo.training.trainer", "train": "filo.training.trainer",
         "training_state_path": "filo.training.state"}

__getattr__ = lazy_attributes(__name__, _LAZY)
