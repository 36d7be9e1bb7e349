"""Batched, resumable extraction of Grounding DINO boxes for the test images of a manifest.

Progress is saved as Parquet shards under ``<out>.shards/`` (each written atomically,
every `shard_size` images); a restarted run skips the images already in a shard. The
final artifact is written atomically only when every test image is done, then the
shards are removed. ``<out>.shards/run.json`` records the settings the shards were
made with; resuming with different settings is refused.

Images are batched per category (one caption per batch) and only images of identical
resized shape share a forward pass, so no padding changes the model's output.

Free space: once the first shard of a run is written, its size per image predicts what the
remaining shards and the merged artifact need; a disk without that much room stops the run
then (`DiskFullError`), not after hours of detection.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from filo.boxes.artifact import decision_rows, error_row, read_boxes_table, rows_to_table, write_boxes_table
from filo.boxes.detector import load_detector_image
from filo.boxes.rules import AUTHORS_RULES, BoxRules
from filo.boxes.source import BoxPredictor, decide_images
from filo.data.manifest import read_manifest
from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.io import atomic_write_text, ensure_free_space, sha256_file

if TYPE_CHECKING:
    import pandas as pd

LOGGER = logging.getLogger(__name__)
SHARD_PATTERN = "shard-[0-9]*.parquet"
RUN_FILE = "run.json"
UNREADABLE_IMAGE_ERRORS = (FiloError,)
"""What `load_detector_image` raises for a missing, corrupt or oversized image (recorded as an error row)."""


def shards_dir_for(out_path: str | os.PathLike) -> Path:
    """The folder holding the progress shards of `out_path`."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".shards")


def _test_images(manifest_path: str | os.PathLike) -> pd.DataFrame:
    """The test-split rows of a manifest (in manifest order)."""
    manifest = read_manifest(manifest_path)
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    if test.empty:
        raise FiloError(f"manifest {manifest_path} has no test images; boxes are only extracted for the test split")
    return test


def _category_descriptions(descriptions_path: str | os.PathLike, categories: Sequence[str]) -> dict[str, tuple]:
    """Descriptions of each needed category; FiloError naming any category the file lacks."""
    table = load_descriptions(descriptions_path)
    missing = sorted(set(categories) - set(table))
    if missing:
        raise FiloError(
            f"descriptions file {descriptions_path} has no entry for categories {missing}; "
            "re-run `filo describe` for this dataset"
        )
    return {category: tuple(table[category].descriptions) for category in categories}


def _prepare_shards(shards_dir: Path, run_settings: dict) -> set[str]:
    """Create or validate the shard folder; return the image ids its shards already hold."""
    run_file = shards_dir / RUN_FILE
    if run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        if previous != run_settings:
            raise FiloError(
                f"the unfinished run in {shards_dir} used other settings ({previous}); delete that folder to start "
                "over, or resume with the same detector, descriptions and rules"
            )
    else:
        shards_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_file, json.dumps(run_settings, sort_keys=True, indent=2))
    done: set[str] = set()
    for shard in sorted(shards_dir.glob(SHARD_PATTERN)):
        done.update(read_boxes_table(shard).column("image_id").to_pylist())
    return done


class _ShardWriter:
    """Buffers rows and writes them as a new atomic shard every `shard_size` images.

    After its first shard it checks that the disk can hold the rest: the shards of the
    `pending_images` still unwritten and the merged artifact of all `total_images`.
    """

    def __init__(self, shards_dir: Path, shard_size: int, *, pending_images: int, total_images: int) -> None:
        self.shards_dir = shards_dir
        self.shard_size = shard_size
        existing = [int(path.stem.removeprefix("shard-")) for path in shards_dir.glob(SHARD_PATTERN)]
        self.next_index = max(existing, default=-1) + 1
        self.rows: list[dict] = []
        self.images = 0
        self.unwritten = pending_images
        self.total_images = total_images
        self.space_checked = False

    def add(self, rows: list[dict]) -> None:
        """Add one image's rows; flush when the shard is full."""
        self.rows.extend(rows)
        self.images += 1
        if self.images >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows (if any) as the next shard."""
        if not self.rows:
            return
        path = self.shards_dir / f"shard-{self.next_index:05d}.parquet"
        write_boxes_table(rows_to_table(self.rows), path, rules=None, detector=None)
        self.next_index += 1
        self.unwritten -= self.images
        if not self.space_checked and self.unwritten > 0:
            per_image = path.stat().st_size / self.images
            ensure_free_space(self.shards_dir, int(per_image * (self.unwritten + self.total_images)),
                              what=f"the box shards of {self.unwritten} more images and the merged artifact")
        self.space_checked = True
        self.rows, self.images = [], 0


def _load_batch(rows: pd.DataFrame, image_size: int, strict: bool) -> tuple[list, list[dict]]:
    """Load a batch's images: (row, tensor) pairs that loaded and error rows for those that did not."""
    loaded, errors = [], []
    for row in rows.itertuples(index=False):
        try:
            loaded.append((row, load_detector_image(row.image_path, image_size)))
        except UNREADABLE_IMAGE_ERRORS as error:
            message = f"cannot read image {row.image_path}: {error}"
            if strict:
                raise FiloError(f"{message} (drop --strict to record it and continue)") from error
            LOGGER.warning(message)
            errors.append(error_row(row.image_id, row.category, message))
    return loaded, errors


def _process_category(
    detector: BoxPredictor,
    rows: pd.DataFrame,
    descriptions: tuple,
    rules: BoxRules,
    batch_size: int,
    strict: bool,
    emit: Callable[[list[dict]], None],
) -> None:
    """Run the detector over one category's pending images and emit each image's rows."""
    for start in range(0, len(rows), batch_size):
        loaded, errors = _load_batch(rows.iloc[start : start + batch_size], rules.image_size, strict)
        for error in errors:
            emit([error])
        decisions = decide_images(detector, [tensor for _, tensor in loaded], descriptions, rules)
        for (row, _), decision in zip(loaded, decisions):
            emit(decision_rows(row.image_id, row.category, decision))


def _merge_shards(shards_dir: Path, image_order: Sequence[str]):
    """All shard rows of the wanted images, in manifest order then box order."""
    tables = [read_boxes_table(shard) for shard in sorted(shards_dir.glob(SHARD_PATTERN))]
    table = pa.concat_tables(tables)
    order = {image_id: index for index, image_id in enumerate(image_order)}
    table = table.filter(pc.is_in(table.column("image_id"), pa.array(list(order))))
    ranks = pa.array([order[image_id] for image_id in table.column("image_id").to_pylist()], pa.int64())
    table = table.append_column("_rank", ranks).sort_by([("_rank", "ascending"), ("box_index", "ascending")])
    return table.drop_columns(["_rank"])


def extract_boxes(
    manifest_path: str | os.PathLike,
    descriptions_path: str | os.PathLike,
    out_path: str | os.PathLike,
    detector: BoxPredictor,
    *,
    rules: BoxRules = AUTHORS_RULES,
    batch_size: int = 4,
    shard_size: int = 64,
    strict: bool = False,
) -> Path:
    """Extract boxes for every test image of the manifest into the artifact at `out_path` (resumable)."""
    if batch_size < 1 or shard_size < 1:
        raise FiloError(f"batch size and shard size must be positive, got {batch_size} and {shard_size}")
    out_path = Path(out_path)
    test = _test_images(manifest_path)
    descriptions = _category_descriptions(descriptions_path, sorted(test["category"].unique()))
    shards_dir = shards_dir_for(out_path)
    run_settings = {
        "rules": rules.as_dict(),
        "detector": detector.identity,
        "descriptions_sha256": sha256_file(descriptions_path),
    }
    done = _prepare_shards(shards_dir, run_settings)
    pending = test[~test["image_id"].isin(done)]
    writer = _ShardWriter(shards_dir, shard_size, pending_images=len(pending), total_images=len(test))
    with tqdm(total=len(test), initial=len(test) - len(pending), unit="img", desc="boxes") as progress:

        def emit(rows: list[dict]) -> None:
            writer.add(rows)
            progress.update(1)

        for category, rows in pending.groupby("category", sort=False):
            _process_category(detector, rows, descriptions[category], rules, batch_size, strict, emit)
    writer.flush()
    merged = _merge_shards(shards_dir, test["image_id"].tolist())
    missing = set(test["image_id"]) - set(merged.column("image_id").to_pylist())
    if missing:
        raise FiloError(
            f"the shards in {shards_dir} lack {len(missing)} test images (e.g. {min(missing)}); "
            "delete that folder and run `filo boxes` again"
        )
    write_boxes_table(merged, out_path, rules=rules.as_dict(), detector=detector.identity)
    shutil.rmtree(shards_dir)
    return out_path
