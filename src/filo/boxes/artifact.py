"""The boxes artifact: one Parquet with a row per (test image, kept box).

Columns:

==============  =========  =====================================================
image_id        string     manifest image id
category        string     raw category folder name
position        string?    3x3 cell of the best matched box (None: the authors'
                           gap case, the model averages all positions)
n_raw_boxes     int32      queries the detector returned (0 on an error row)
n_kept_boxes    int32      boxes after threshold / area / best-box fallback
box_index       int32?     0..n_kept_boxes-1 (null on a box-less or error row)
x1, y1, x2, y2  float32?   normalized box corners
logit           float32?   max token probability of the box
phrase          string?    decoded phrase
matched         bool?      phrase names an anomaly (only matched boxes are used)
error           string?    why the image could not be processed (other fields null)
==============  =========  =====================================================

Key/value metadata: ``filo.boxes.schema_version`` ("1"), ``filo.boxes.rules`` (JSON
of the post-processing parameters) and ``filo.boxes.detector`` (JSON: config name,
checkpoint sha256, text encoder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from filo.boxes.rules import ImageDecision
from filo.errors import FiloError
from filo.io import atomic_path

SCHEMA_VERSION = "1"
META_SCHEMA_VERSION = b"filo.boxes.schema_version"
META_RULES = b"filo.boxes.rules"
META_DETECTOR = b"filo.boxes.detector"
COORDINATES = ("x1", "y1", "x2", "y2")


def arrow_schema():
    """The pyarrow schema of box rows (shards and the final artifact)."""
    return pa.schema(
        [
            ("image_id", pa.string()),
            ("category", pa.string()),
            ("position", pa.string()),
            ("n_raw_boxes", pa.int32()),
            ("n_kept_boxes", pa.int32()),
            ("box_index", pa.int32()),
            *[(name, pa.float32()) for name in COORDINATES],
            ("logit", pa.float32()),
            ("phrase", pa.string()),
            ("matched", pa.bool_()),
            ("error", pa.string()),
        ]
    )


@dataclass(frozen=True)
class ImageBoxes:
    """The cached boxes of one image, as the evaluation uses them.

    `boxes` holds the (K, 4) normalized xyxy corners of the MATCHED boxes only, with
    their `logits` and `phrases` (K = 0: the whole map is scaled by λ). `position` None
    means no single cell (average all positions). `error` is set when the image could
    not be processed; its other fields are then empty.
    """

    position: str | None
    boxes: np.ndarray
    logits: np.ndarray
    phrases: tuple[str, ...]
    error: str | None


def decision_rows(image_id: str, category: str, decision: ImageDecision) -> list[dict]:
    """Artifact rows of one processed image: one per kept box, or one box-less row."""
    common = {
        "image_id": image_id,
        "category": category,
        "position": decision.position,
        "n_raw_boxes": decision.n_raw_boxes,
        "n_kept_boxes": len(decision.kept),
    }
    if not decision.kept:
        return [common]
    return [
        {
            **common,
            "box_index": index,
            **dict(zip(COORDINATES, box.xyxy)),
            "logit": box.logit,
            "phrase": box.phrase,
            "matched": box.matched,
        }
        for index, box in enumerate(decision.kept)
    ]


def error_row(image_id: str, category: str, message: str) -> dict:
    """The single artifact row of an image that could not be processed."""
    return {"image_id": image_id, "category": category, "n_raw_boxes": 0, "n_kept_boxes": 0, "error": message}


def rows_to_table(rows: Iterable[dict]):
    """A pyarrow table with the artifact schema from row dicts (missing keys become null)."""
    schema = arrow_schema()
    rows = list(rows)
    columns = {field.name: [row.get(field.name) for row in rows] for field in schema}
    return pa.table(columns, schema=schema)


def write_boxes_table(table, path: str | os.PathLike, *, rules: dict | None, detector: dict | None) -> None:
    """Write box rows atomically to `path`, recording rules and detector identity when given."""
    metadata = {META_SCHEMA_VERSION: SCHEMA_VERSION.encode()}
    if rules is not None:
        metadata[META_RULES] = json.dumps(rules, sort_keys=True).encode()
    if detector is not None:
        metadata[META_DETECTOR] = json.dumps(detector, sort_keys=True).encode()
    table = table.cast(arrow_schema()).replace_schema_metadata(metadata)
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def read_boxes_table(path: str | os.PathLike):
    """Read a boxes Parquet (artifact or shard) and check its columns; returns a pyarrow table."""
    path = Path(path)
    if not path.is_file():
        raise FiloError(f"boxes file {path} does not exist; create it with `filo boxes`")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise FiloError(f"boxes file {path} is not a readable Parquet file ({error}); re-run `filo boxes`")
    expected = arrow_schema()
    missing = [name for name in expected.names if name not in table.column_names]
    if missing:
        raise FiloError(f"boxes file {path} lacks columns {missing}; re-create it with `filo boxes`")
    version = (table.schema.metadata or {}).get(META_SCHEMA_VERSION, b"").decode()
    if version != SCHEMA_VERSION:
        raise FiloError(
            f"boxes file {path} has schema version {version or 'none'!r}, expected {SCHEMA_VERSION!r}; "
            "re-create it with `filo boxes`"
        )
    return table.select(expected.names).cast(expected).replace_schema_metadata(table.schema.metadata)


def read_boxes_metadata(path: str | os.PathLike) -> dict:
    """The rules and detector identity recorded in a boxes artifact."""
    metadata = read_boxes_table(path).schema.metadata
    return {
        "rules": json.loads(metadata.get(META_RULES, b"null")),
        "detector": json.loads(metadata.get(META_DETECTOR, b"null")),
    }


def _optional_str(value) -> str | None:
    """A string cell as str, or None for null/NaN."""
    return None if pd.isna(value) else str(value)


def load_boxes(path: str | os.PathLike) -> dict[str, ImageBoxes]:
    """Load a boxes artifact into ``{image_id: ImageBoxes}`` for fast per-image lookup."""
    frame = read_boxes_table(path).to_pandas()
    result: dict[str, ImageBoxes] = {}
    for image_id, rows in frame.groupby("image_id", sort=False):
        first = rows.iloc[0]
        matched = rows[rows["matched"].fillna(False).astype(bool)]
        result[image_id] = ImageBoxes(
            position=_optional_str(first["position"]),
            boxes=matched[list(COORDINATES)].to_numpy(dtype=np.float32).reshape(-1, 4),
            logits=matched["logit"].to_numpy(dtype=np.float32),
            phrases=tuple(str(phrase) for phrase in matched["phrase"]),
            error=_optional_str(first["error"]),
        )
    return result
