"""The dataset manifest: one Parquet file per dataset, one row per image.

Columns (in this order): `image_id` (path relative to the dataset root, POSIX, unique),
`dataset`, `category` (raw folder name), `split` ("train"/"test"), `label` (int8, 0 normal,
1 anomalous), `defect_type` ("good" for normal images), `image_path` (the root as the user
gave it joined with `image_id`), `mask_path` (null for normal images and when the dataset
has no mask for the image), `width`, `height` (int32).

Key/value metadata: `filo.schema_version` ("1"), `filo.root` (the dataset root as given),
`filo.has_masks` ("true" when every anomalous image has a mask, so pixel-level training
and metrics are possible; "false" when some or all anomalous images have none, and later
stages then work at image level only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from filo.errors import FiloError
from filo.io import atomic_path

SCHEMA_VERSION = "1"
STRING_COLUMNS = ("image_id", "dataset", "category", "split", "defect_type", "image_path")
COLUMNS = (
    "image_id",
    "dataset",
    "category",
    "split",
    "label",
    "defect_type",
    "image_path",
    "mask_path",
    "width",
    "height",
)
SPLITS = ("train", "test")
NORMAL_DEFECT_TYPE = "good"
META_SCHEMA_VERSION = "filo.schema_version"
META_ROOT = "filo.root"
META_HAS_MASKS = "filo.has_masks"
_FIX_HINT = "re-create it with `filo data index`"


@dataclass(frozen=True)
class ManifestMetadata:
    """The Parquet key/value metadata of a manifest."""

    schema_version: str
    root: str
    has_masks: bool


def _arrow_schema():
    """The pyarrow schema every manifest is written with."""
    return pa.schema(
        [
            ("image_id", pa.string()),
            ("dataset", pa.string()),
            ("category", pa.string()),
            ("split", pa.string()),
            ("label", pa.int8()),
            ("defect_type", pa.string()),
            ("image_path", pa.string()),
            ("mask_path", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
        ]
    )


def validate_manifest_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a manifest table against the schema; return it with canonical dtypes and column order.

    `source` names where the table came from (a path, or "the manifest being written") in
    every error message.
    """
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise FiloError(f"manifest {source} lacks the column(s) {missing}; {_FIX_HINT}")
    frame = frame.loc[:, list(COLUMNS)].reset_index(drop=True)
    for column in (*STRING_COLUMNS, "mask_path"):
        values = frame[column]
        nulls = values.isna()
        if column != "mask_path" and nulls.any():
            raise FiloError(
                f"manifest {source}: column {column!r} has {int(nulls.sum())} empty value(s); {_FIX_HINT}"
            )
        if not values[~nulls].map(lambda value: isinstance(value, str)).all():
            raise FiloError(f"manifest {source}: column {column!r} must hold strings; {_FIX_HINT}")
    for column in ("label", "width", "height"):
        if not pd.api.types.is_integer_dtype(frame[column]):
            raise FiloError(
                f"manifest {source}: column {column!r} must be integer, found {frame[column].dtype}; {_FIX_HINT}"
            )
    _check_values(frame, source)
    return frame.astype({"label": "int8", "width": "int32", "height": "int32"})


def _check_values(frame: pd.DataFrame, source: str) -> None:
    """The row-level rules of the schema: unique ids, known splits/labels, consistent masks, sizes."""

    def fail(what: str, rows: pd.DataFrame) -> None:
        examples = ", ".join(rows["image_id"].astype(str).head(3))
        raise FiloError(f"manifest {source}: {len(rows)} row(s) {what} (e.g. {examples}); {_FIX_HINT}")

    duplicated = frame[frame["image_id"].duplicated(keep=False)]
    if len(duplicated):
        fail("share an image_id", duplicated)
    bad_split = frame[~frame["split"].isin(SPLITS)]
    if len(bad_split):
        fail(f"have a split other than {SPLITS}", bad_split)
    bad_label = frame[~frame["label"].isin((0, 1))]
    if len(bad_label):
        fail("have a label other than 0/1", bad_label)
    normal = frame["label"] == 0
    inconsistent = frame[normal != (frame["defect_type"] == NORMAL_DEFECT_TYPE)]
    if len(inconsistent):
        fail(
            f"disagree between label and defect_type ({NORMAL_DEFECT_TYPE!r} must mean label 0)", inconsistent
        )
    masked_normal = frame[normal & frame["mask_path"].notna()]
    if len(masked_normal):
        fail("are normal but have a mask_path", masked_normal)
    bad_size = frame[(frame["width"] <= 0) | (frame["height"] <= 0)]
    if len(bad_size):
        fail("have a non-positive width or height", bad_size)


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike, *, root: str, has_masks: bool) -> None:
    """Validate `frame` and write it atomically as a manifest Parquet with the filo metadata."""
    frame = validate_manifest_frame(frame, "being written")
    schema = _arrow_schema().with_metadata(
        {
            META_SCHEMA_VERSION: SCHEMA_VERSION,
            META_ROOT: str(root),
            META_HAS_MASKS: "true" if has_masks else "false",
        }
    )
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest_metadata(path: str | os.PathLike) -> ManifestMetadata:
    """The filo metadata of a manifest file (schema version, dataset root, whether masks exist)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except FileNotFoundError as error:
        raise FiloError(f"manifest not found: {path}; create it with `filo data index`") from error
    except (OSError, ValueError) as error:
        raise FiloError(f"manifest {path} is not a readable Parquet file ({error}); {_FIX_HINT}") from error
    values = {key.decode(): value.decode() for key, value in metadata.items()}
    version = values.get(META_SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise FiloError(
            f"manifest {path} has schema version {version!r}, this filo reads {SCHEMA_VERSION!r}; {_FIX_HINT}"
        )
    if META_ROOT not in values or values.get(META_HAS_MASKS) not in ("true", "false"):
        raise FiloError(f"manifest {path} lacks its {META_ROOT}/{META_HAS_MASKS} metadata; {_FIX_HINT}")
    return ManifestMetadata(version, values[META_ROOT], values[META_HAS_MASKS] == "true")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a manifest; the metadata is also placed in `frame.attrs` (root, has_masks).

    Every consumer (describe, boxes, train, evaluate) reads manifests here, so an empty
    manifest is refused at each of them, naming the stage that produces manifests.
    """
    metadata = read_manifest_metadata(path)
    frame = validate_manifest_frame(pd.read_parquet(path), str(path))
    if frame.empty:
        raise FiloError(
            f"manifest {path} is empty (0 images); manifests are produced by the `filo data index` stage, "
            f"which never writes an empty one: re-run `filo data index` on the dataset root {metadata.root}"
        )
    frame.attrs.update(root=metadata.root, has_masks=metadata.has_masks)
    return frame
