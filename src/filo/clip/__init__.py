"""The upstream open_clip backbone's weights: which models filo registers, and where their weights come from.

`filo.clip.weights` holds what both the model (`filo.model.clip_backbone`) and the preflight
check (`filo.clip.preflight`) need: the tags' build options and the loading of a local
checkpoint. It imports no FiLo model code, so the preflight does not rerun on a model edit.
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = ["TINY_CLIP_NAME", "check_clip", "check_model_name", "create_from_local_checkpoint",
           "is_local_checkpoint", "local_build_options"]

# Loaded on first use: importing the package does not load open_clip and torch.
_LAZY = {"check_clip": "filo.clip.preflight", **{name: "filo.clip.weights" for name in __all__ if name != "check_clip"}}

__getattr__ = lazy_attributes(__name__, _LAZY)
