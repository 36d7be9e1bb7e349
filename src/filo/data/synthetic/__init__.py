"""Procedural anomaly datasets in the real MVTec AD and VisA layouts (the demo profile's data).

`generate_dataset` writes a dataset folder, `pack_archive` packs it like the real
downloads; `CATEGORIES` / `DEFAULT_CATEGORIES` / `DEFECT_TYPES` describe what can be made.
"""

from filo.data.synthetic.archive import pack_archive
from filo.data.synthetic.categories import CATEGORIES, DEFAULT_CATEGORIES, SyntheticCategory, synthesize
from filo.data.synthetic.defects import DEFECT_TYPES, MIN_CHANGE
from filo.data.synthetic.layouts import generate_dataset

__all__ = [
    "CATEGORIES",
    "DEFAULT_CATEGORIES",
    "DEFECT_TYPES",
    "MIN_CHANGE",
    "SyntheticCategory",
    "generate_dataset",
    "pack_archive",
    "synthesize",
]
