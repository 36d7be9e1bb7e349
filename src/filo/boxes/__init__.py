"""HQ-Loc preliminary localization: Grounding DINO boxes extracted offline into a Parquet cache.

Modules: `detector` (build/load the model), `rules` (authors' box filtering, phrase
matching and 3x3 position), `geometry` (keep masks, position cells), `extract`
(batched, resumable extraction), `artifact` (Parquet schema, `load_boxes`), `source` (the one
interface evaluation and prediction get boxes through: the artifact or a live detector),
`tiny` (a small random-weight detector for the offline demo).

Public (`__all__`): the stage's settings and functions, the rules, the artifact reader, the box sources. They
are imported on first use, so that importing one module of the package loads no other.
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = [
    "AUTHORS_RULES",
    "ArtifactBoxes",
    "BoxRules",
    "BoxesSettings",
    "DetectorBoxes",
    "DetectorSettings",
    "ImageBoxes",
    "extract_boxes_stage",
    "load_boxes",
    "prepare_detector",
]

_LAZY = {
    "BoxesSettings": "filo.boxes.stage",
    "DetectorSettings": "filo.boxes.stage",
    "prepare_detector": "filo.boxes.stage",
    "extract_boxes_stage": "filo.boxes.stage",
    "BoxRules": "filo.boxes.rules",
    "AUTHORS_RULES": "filo.boxes.rules",
    "ImageBoxes": "filo.boxes.artifact",
    "load_boxes": "filo.boxes.artifact",
    "ArtifactBoxes": "filo.boxes.source",
    "DetectorBoxes": "filo.boxes.source",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
