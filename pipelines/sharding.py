"""Split a manifest's test images into shards and merge per-shard results back in manifest order.

Shards are contiguous runs of the test split made of whole categories: scoring and box
extraction batch images category by category, so a shard forms exactly the batches an
unsharded run forms and its outputs are bit-identical to that run's (each category's
text features are also prepared on one worker only). Concatenating shard results in
shard order restores the manifest's test order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from filo.errors import FiloError

if TYPE_CHECKING:
    from filo.evaluation.scoring import ScoredImages

SHARD_NAME = "shard-{index:03d}.parquet"


def split_test_manifest(
    manifest_path: str | os.PathLike, shards: int, work_dir: str | os.PathLike
) -> list[Path]:
    """Write the test images of a manifest as up to `shards` sub-manifests of whole categories; return their paths.

    Categories are kept in manifest order and cut into contiguous groups of about equal
    image counts. Each sub-manifest keeps the parent's root and has_masks metadata. Fewer
    files are written when the manifest has fewer test categories than `shards`.
    """
    from filo.data.manifest import read_manifest, write_manifest

    if shards < 1:
        raise FiloError(f"the number of shards must be at least 1, got {shards}")
    manifest = read_manifest(manifest_path)
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    if test.empty:
        raise FiloError(f"manifest {manifest_path} has no test images to shard")
    categories = list(dict.fromkeys(test["category"]))
    counts = test["category"].value_counts()
    groups: list[list[str]] = [[]]
    done = 0
    for index, category in enumerate(categories):
        groups[-1].append(category)
        done += int(counts[category])
        remaining_groups = min(shards, len(categories)) - len(groups)
        target = len(test) * len(groups) / min(shards, len(categories))
        if remaining_groups > 0 and done >= target and index < len(categories) - 1:
            groups.append([])
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, group in enumerate(groups):
        path = work_dir / SHARD_NAME.format(index=index)
        write_manifest(test[test["category"].isin(group)], path, root=manifest.attrs["root"],
                       has_masks=manifest.attrs["has_masks"])
        paths.append(path)
    return paths


def merge_box_shards(shard_outputs: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Concatenate per-shard boxes artifacts (in shard order) into one artifact at `out`, atomically.

    Every shard must have been made with the same rules and detector; the merged file
    records them like an unsharded `filo boxes` run.
    """
    import pyarrow as pa

    from filo.boxes.artifact import read_boxes_metadata, read_boxes_table, write_boxes_table

    if not shard_outputs:
        raise FiloError("no boxes shards to merge")
    settings = read_boxes_metadata(shard_outputs[0])
    for path in shard_outputs[1:]:
        if read_boxes_metadata(path) != settings:
            raise FiloError(
                f"boxes shard {path} was made with other rules or another detector than {shard_outputs[0]}; "
                "delete the shard outputs and run the flow again"
            )
    merged = pa.concat_tables([read_boxes_table(path) for path in shard_outputs])
    write_boxes_table(merged, out, rules=settings["rules"], detector=settings["detector"])
    return Path(out)


def merge_scored(parts: Sequence[ScoredImages]) -> ScoredImages:
    """Concatenate per-shard scoring results (in shard order) into one `ScoredImages`."""
    import numpy as np
    import pandas as pd

    from filo.evaluation.scoring import ScoredImages

    if not parts:
        raise FiloError("no scored shards to merge")
    return ScoredImages(
        table=pd.concat([part.table for part in parts], ignore_index=True),
        anomaly_maps=np.concatenate([part.anomaly_maps for part in parts]),
        masks=np.concatenate([part.masks for part in parts]),
    )
