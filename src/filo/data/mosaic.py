"""The label rules of a mosaic item (the authors' MVTec-layout augmentation), in a module light enough for settings."""

from __future__ import annotations

from typing import Literal, get_args

MosaicLabel = Literal["mosaic", "authors"]
"""'mosaic': anomalous if any tile is; 'authors': the indexed image's label, as the authors' dataset does."""
MOSAIC_LABELS: tuple[str, ...] = get_args(MosaicLabel)
