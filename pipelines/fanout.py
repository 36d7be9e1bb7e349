"""Fan-out subflows: a stage whose declaration names a `fanout` input, split into shards of it on a Dask task runner.

Each subflow reads the stage's paths by their declared names from its `dag.Stage` and its
settings from the params section its declaration names, splits the fan-out input (a
manifest's test images) into shards (`sharding`), runs one task per shard on a Dask cluster
(see `runner`), and merges the shard results in manifest order into the same artifact an
unsharded run writes. The run is recorded in MLflow by the declaration, as `filo` records an
unsharded one (`StageSpec.recorded`). Intermediate files live in ``<out>.fanout/`` next to
the output and are removed after the merge.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from prefect import flow

from filo.boxes.stage import BOXES
from filo.evaluation.evaluate import finish_evaluation
from filo.evaluation.stage import EVALUATE
from filo.settings import load_settings

from . import tasks
from .dag import Stage
from .runner import dask_task_runner


def fanout_dir(out: str | Path) -> Path:
    """The folder holding the shard inputs and outputs of `out` while a fan-out runs."""
    out = Path(out)
    return out.with_name(out.name + ".fanout")


@flow(name="filo sharded boxes")
def sharded_boxes_flow(stage: Stage, root: Path, params_file: Path, shards: int = 2) -> Path:
    """The `filo boxes` stage over `shards` shards of its manifest's test images; returns the merged artifact."""
    settings = load_settings(stage.spec.settings, params_file)
    paths = stage.binding.under(root)
    work_dir = fanout_dir(paths["out"])
    with stage.spec.recorded(stage.name, paths, params_file, settings=lambda: [settings]):
        shard_manifests = tasks.split_task(paths[stage.spec.fanout], shards, work_dir / "manifests")
        futures = [
            tasks.boxes_task.submit(**{**paths, stage.spec.fanout: shard, "out": work_dir / "boxes" / shard.name},
                                    settings=settings)
            for shard in shard_manifests
        ]
        merged = tasks.merge_boxes_task([future.result() for future in futures], paths["out"])
    shutil.rmtree(work_dir)
    return merged


@flow(name="filo sharded evaluation")
def sharded_evaluation_flow(stage: Stage, root: Path, params_file: Path, shards: int = 2) -> dict[str, float]:
    """The `filo evaluate` stage with its scoring split over `shards` shards; returns the mean metrics.

    The protocol checks run once on the whole set, the shards are scored on the cluster, and
    `finish_evaluation` writes the output folder and MLflow run from the merged scores, as
    `filo evaluate` does from its unsharded ones.
    """
    settings = load_settings(stage.spec.settings, params_file)
    values = stage.binding.under(root)
    paths = {name: values[name] for name in stage.spec.names("in")}
    work_dir = fanout_dir(values["out_dir"])
    with stage.spec.recorded(stage.name, values, params_file, settings=lambda: [settings]):
        inputs = tasks.check_evaluation_task(paths, settings)
        shard_manifests = tasks.split_task(paths[stage.spec.fanout], shards, work_dir)
        futures = [tasks.score_part_task.submit({**paths, stage.spec.fanout: shard}, settings)
                   for shard in shard_manifests]
        scored = tasks.merge_scored_task([future.result() for future in futures])
        result = finish_evaluation(scored, inputs, values["out_dir"], settings)
    shutil.rmtree(work_dir)
    return result.metrics.mean


SHARDED_FLOWS: dict[tuple[str, ...], Callable] = {BOXES.command: sharded_boxes_flow,
                                                  EVALUATE.command: sharded_evaluation_flow}
"""The subflow of each declared stage that fans out (`StageSpec.fanout`), by command."""


def run_sharded(stage: Stage, root: Path, params_file: Path, *, dask_address: str, shards: int):
    """Run the fan-out subflow of `stage` with its shard tasks on the Dask cluster at `dask_address`; its result."""
    subflow = SHARDED_FLOWS.get(stage.command)
    if subflow is None:
        raise ValueError(f"stage {stage.name} declares a fan-out over {stage.spec.fanout!r} but "
                         f"filo.pipelines.fanout has no subflow for `filo {stage.spec.name}`; add it to SHARDED_FLOWS")
    return subflow.with_options(task_runner=dask_task_runner(dask_address))(stage, root, params_file, shards)
