"""The FiLo model: CLIP backbone, prompt learners, heads, adapter, anomaly maps, losses and checkpoints.

Modules: `config` (FiLoConfig, the presets of presets/), `factory` (`create_model`), `clip_backbone`, `vision`,
`text`, `prompts`, `heads`, `adapter`, `maps`, `losses`, `precision`, `filo` (the FiLo module) and `checkpoint`.

Public (`__all__`): the model, its config and presets, checkpoints. They are imported on first use, so that
importing one module of the package loads no other.
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = [
    "PRESETS",
    "FiLo",
    "FiLoConfig",
    "Prediction",
    "TrainingProvenance",
    "create_model",
    "load_checkpoint",
    "preset_config",
    "save_checkpoint",
]

_LAZY = {
    "FiLo": "filo.model.filo",
    "Prediction": "filo.model.filo",
    "FiLoConfig": "filo.model.config",
    "TrainingProvenance": "filo.model.config",
    "PRESETS": "filo.model.config",
    "preset_config": "filo.model.config",
    "create_model": "filo.model.factory",
    "load_checkpoint": "filo.model.checkpoint",
    "save_checkpoint": "filo.model.checkpoint",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
