"""Model presets as data: one ``<preset>.json`` of FiLoConfig fields per named configuration.

As open_clip keeps its model configs, the presets are files, read here and nowhere else:
`filo.model.config.preset_config` builds a FiLoConfig from one, and the preflight
(`filo.clip.preflight`) reads the CLIP fields of the training preset without importing the
model code. The names a settings field may take are `filo.model.config.ModelPreset`; a test
keeps them equal to the files here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filo.errors import FiloError

__all__ = ["PRESETS_DIR", "preset_names", "read_preset"]

PRESETS_DIR = Path(__file__).resolve().parent
"""The folder of the preset files."""


def preset_names() -> list[str]:
    """The names of the presets there are (their files' stems), sorted."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.json"))


def read_preset(preset: str) -> dict[str, Any]:
    """The FiLoConfig fields of preset `preset`, as its file holds them; FiloError naming the presets there are."""
    path = PRESETS_DIR / f"{preset}.json"
    if not path.is_file():
        raise FiloError(f"unknown model preset {preset!r}; choose one of {preset_names()}")
    values = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(values, dict):
        raise FiloError(f"model preset file {path} must hold a mapping of FiLoConfig fields, found {type(values).__name__}")
    return values
