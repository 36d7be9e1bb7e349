"""Builders for the boxes tests: tiny image datasets with a manifest and a descriptions file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from filo.data.manifest import write_manifest

DESCRIPTIONS = {
    "woven_fabric": ["scratch", "hole", "colour stain"],
    "round_part": ["crack", "missing piece"],
}


def _write_image(path: Path, seed: int, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_dataset(root: Path, *, per_category: int = 3, sizes=((40, 40),)) -> tuple[Path, Path]:
    """Write small PNGs (one train image per category, the rest test), a manifest and descriptions."""
    rows = []
    for category_index, category in enumerate(DESCRIPTIONS):
        for index in range(per_category + 1):
            split = "train" if index == 0 else "test"
            defect = "good" if index % 2 == 0 else "scratch"
            image_id = f"{category}/{split}/{defect}/{index:03d}.png"
            size = sizes[index % len(sizes)]
            _write_image(root / "data" / image_id, seed=100 * category_index + index, size=size)
            rows.append(
                {
                    "image_id": image_id,
                    "dataset": "synth_mvtec",
                    "category": category,
                    "split": split,
                    "label": 0 if defect == "good" else 1,
                    "defect_type": defect,
                    "image_path": str(root / "data" / image_id),
                    "mask_path": None,
                    "width": size[0],
                    "height": size[1],
                }
            )
    manifest = root / "manifest.parquet"
    write_manifest(pd.DataFrame(rows), manifest, root=str(root / "data"), has_masks=False)
    descriptions = root / "descriptions.json"
    descriptions.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "categories": {
                    name: {"descriptions": texts, "source": "user", "cache_key": None}
                    for name, texts in DESCRIPTIONS.items()
                },
            }
        )
    )
    return manifest, descriptions


@pytest.fixture
def dataset(tmp_path) -> tuple[Path, Path]:
    """(manifest, descriptions) of a 2-category dataset with 3 test images each."""
    return make_dataset(tmp_path)
