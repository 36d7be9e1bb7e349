"""The synthetic categories: what each looks like and which defect types it shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from filo.data.synthetic import objects, textures
from filo.data.synthetic.canvas import Scene, to_uint8
from filo.data.synthetic.defects import DefectSample, paint_defect
from filo.errors import FiloError


@dataclass(frozen=True)
class SyntheticCategory:
    """A procedural category: its renderer of normal samples and the defect types it can show."""

    name: str
    kind: Literal["texture", "object"]
    render: Callable[[int, np.random.Generator], Scene]
    defect_types: tuple[str, ...]


CATEGORIES: dict[str, SyntheticCategory] = {
    category.name: category
    for category in (
        SyntheticCategory("woven_fabric", "texture", textures.woven_fabric,
                          ("hole", "stain", "contamination", "missing_piece")),
        SyntheticCategory("speckle_stone", "texture", textures.speckle_stone,
                          ("scratch", "crack", "hole", "stain")),
        SyntheticCategory("round_part", "object", objects.round_part,
                          ("scratch", "crack", "missing_piece", "contamination")),
        SyntheticCategory("wood_grain", "texture", textures.wood_grain,
                          ("scratch", "crack", "hole", "stain")),
        SyntheticCategory("grid_mesh", "texture", textures.grid_mesh,
                          ("scratch", "stain", "missing_piece", "contamination")),
        SyntheticCategory("trace_board", "object", objects.trace_board,
                          ("scratch", "stain", "missing_piece", "contamination")),
        SyntheticCategory("capsule_blob", "object", objects.capsule_blob,
                          ("crack", "hole", "missing_piece", "contamination")),
    )
}

#: The demo profile's two disjoint category sets, one per on-disk layout.
DEFAULT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "mvtec": ("woven_fabric", "speckle_stone", "round_part"),
    "visa": ("wood_grain", "grid_mesh", "trace_board", "capsule_blob"),
}


def resolve_categories(names: Sequence[str]) -> list[SyntheticCategory]:
    """Look up categories by name; an unknown name is a FiloError listing the known ones."""
    unknown = [name for name in names if name not in CATEGORIES]
    if unknown:
        raise FiloError(
            f"unknown synthetic categories {unknown}; choose from {sorted(CATEGORIES)}"
        )
    if len(set(names)) != len(names):
        raise FiloError(f"synthetic categories are listed twice in {list(names)}; list each once")
    return [CATEGORIES[name] for name in names]


def synthesize(category: SyntheticCategory, defect_type: str | None, size: int,
               rng: np.random.Generator) -> DefectSample:
    """Render one sample of `category`: normal when `defect_type` is None, else with that defect."""
    scene = category.render(size, rng)
    if defect_type is None:
        clean = to_uint8(scene.image)
        return DefectSample(image=clean, clean=clean, mask=np.zeros((size, size), dtype=bool))
    return paint_defect(scene, defect_type, rng)
