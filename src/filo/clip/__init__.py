"""The upstream open_clip backbone's weights: which models filo registers, and where their weights come from.

`filo.clip.weights` holds what both the model (`filo.model.clip_backbone`) and the preflight
check (`filo.clip.preflight`) need: the tags' build options and the loading of a local
checkpoint. It imports no FiLo model code, so the preflight does not rerun on a model edit.
"""
