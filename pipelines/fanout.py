"""Fan-out subflows: box extraction and evaluation over shards of a manifest, on a Dask task runner.

Each subflow splits the manifest's test images into shards (`sharding`), runs one task
per shard on a Dask cluster (see `runner`), and merges the shard
results in manifest order into the same artifact an unsharded run writes. Intermediate
files live in ``<out>.fanout/`` next to the output and are removed after the merge.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from prefect import flow

from . import tasks
from .runner import dask_task_runner


def fanout_dir(out: str | Path) -> Path:
    """The folder holding the shard inputs and outputs of `out` while a fan-out runs."""
    out = Path(out)
    return out.with_name(out.name + ".fanout")


@flow(name="filo sharded boxes")
def sharded_boxes_flow(
    manifest: Path,
    descriptions: Path,
    out: Path,
    *,
    detector_config: Path,
    detector_checkpoint: Path,
    rules: dict[str, Any],
    batch_size: int = 4,
    device: str | None = None,
    shards: int = 2,
) -> Path:
    """`filo boxes` over `shards` shards of the manifest's test images; the merged artifact goes to `out`.

    `rules` holds `filo.boxes.rules.BoxRules` fields (missing ones take the authors' values).
    """
    from filo.boxes.rules import BoxRules

    box_rules = BoxRules(**rules)
    work_dir = fanout_dir(out)
    shard_manifests = tasks.split_task(manifest, shards, work_dir / "manifests")
    futures = [
        tasks.boxes_task.submit(
            shard,
            descriptions,
            work_dir / "boxes" / shard.name,
            config=detector_config,
            checkpoint=detector_checkpoint,
            device=device,
            rules=box_rules,
            batch_size=batch_size,
        )
        for shard in shard_manifests
    ]
    merged = tasks.merge_boxes_task([future.result() for future in futures], out)
    shutil.rmtree(work_dir)
    return merged


@flow(name="filo sharded evaluation")
def sharded_evaluation_flow(
    model: Path,
    manifest: Path,
    descriptions: Path,
    out_dir: Path,
    *,
    boxes: Path | None = None,
    options: dict[str, Any] | None = None,
    shards: int = 2,
) -> dict[str, float]:
    """`filo evaluate` with the scoring split over `shards` shards; returns the mean metrics.

    `options` holds `filo.evaluation.evaluate.EvaluationSettings` fields (the `filo evaluate` options).
    """
    from .sharded_evaluation import evaluation_settings

    settings = evaluation_settings(options or {})
    config = tasks.check_evaluation_task(model, manifest, settings)
    work_dir = fanout_dir(out_dir)
    shard_manifests = tasks.split_task(manifest, shards, work_dir)
    futures = [
        tasks.score_shard_task.submit(model, shard, descriptions, boxes, settings) for shard in shard_manifests
    ]
    scored = tasks.merge_scored_task([future.result() for future in futures])
    result = tasks.finish_evaluation_task(scored, config, model, manifest, descriptions, boxes, out_dir, settings)
    shutil.rmtree(work_dir)
    return result.metrics.mean


def run_sharded_boxes(*, dask_address: str, **arguments: Any) -> Path:
    """Run `sharded_boxes_flow(**arguments)` with its shard tasks on the Dask cluster at `dask_address`."""
    return sharded_boxes_flow.with_options(task_runner=dask_task_runner(dask_address))(**arguments)


def run_sharded_evaluation(*, dask_address: str, **arguments: Any) -> dict[str, float]:
    """Run `sharded_evaluation_flow(**arguments)` with its shard tasks on the Dask cluster at `dask_address`."""
    return sharded_evaluation_flow.with_options(task_runner=dask_task_runner(dask_address))(**arguments)
