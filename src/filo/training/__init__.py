"""Training FiLo: phase 1 (prompt learners + linear/MMCI heads), then phase 2 (adapter).

Entry point: `train(manifest_path, descriptions_path, out, params, *, eval_manifest_path, init, resume)`
with `TrainParams` (every number of the recipe; `load_train_params` reads `params.yaml`).
"""

from filo.training.params import TrainParams, load_train_params
from filo.training.state import training_state_path
from filo.training.trainer import TrainResult, train

__all__ = ["TrainParams", "TrainResult", "load_train_params", "train", "training_state_path"]
