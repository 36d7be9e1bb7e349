"""Fan-out subflows: a boxes or evaluate stage of the DAG split into shards of its manifest, on a Dask task runner.

Each subflow reads the stage's paths from its `dag.Stage` and its settings from the same
params section `filo boxes` / `filo evaluate` read, splits the manifest's test images into
shards (`sharding`), runs one task per shard on a Dask cluster (see `runner`), and merges
the shard results in manifest order into the same artifact an unsharded run writes.
Intermediate files live in ``<out>.fanout/`` next to the output and are removed after the merge.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import flow

from filo.boxes.stage import BoxesSettings
from filo.evaluation.evaluate import finish_evaluation, input_paths
from filo.evaluation.settings import EvaluationSettings
from filo.settings import load_settings
from filo.tracking import stage_run

from . import tasks
from .dag import Stage
from .runner import dask_task_runner


def fanout_dir(out: str | Path) -> Path:
    """The folder holding the shard inputs and outputs of `out` while a fan-out runs."""
    out = Path(out)
    return out.with_name(out.name + ".fanout")


def _recorded(stage: Stage, root: Path, settings: object):
    """The MLflow stage run of a fanned-out stage, recorded as `filo.cli.run_parsed` records the others."""
    def paths(role: str) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        for arg in stage.args:
            if arg.role == role:
                found.setdefault(arg.flag.lstrip("-").replace("-", "_"), []).append(root / arg.value)
        return found

    return stage_run(stage.name, " ".join(stage.command), inputs=paths("dep"), outputs=paths("out"),
                     settings=lambda: [settings])


@flow(name="filo sharded boxes")
def sharded_boxes_flow(stage: Stage, root: Path, params_file: Path, shards: int = 2) -> Path:
    """The `filo boxes` stage over `shards` shards of its manifest's test images; returns the merged artifact."""
    settings = load_settings(BoxesSettings, params_file)
    out = stage.path("--out", root)
    work_dir = fanout_dir(out)
    with _recorded(stage, root, settings):
        shard_manifests = tasks.split_task(stage.path("--manifest", root), shards, work_dir / "manifests")
        futures = [
            tasks.boxes_task.submit(shard, stage.path("--descriptions", root), stage.path("--detector", root),
                                    work_dir / "boxes" / shard.name, settings)
            for shard in shard_manifests
        ]
        merged = tasks.merge_boxes_task([future.result() for future in futures], out)
    shutil.rmtree(work_dir)
    return merged


@flow(name="filo sharded evaluation")
def sharded_evaluation_flow(stage: Stage, root: Path, params_file: Path, shards: int = 2) -> dict[str, float]:
    """The `filo evaluate` stage with its scoring split over `shards` shards; returns the mean metrics.

    The protocol checks run once on the whole set, the shards are scored on the cluster, and
    `finish_evaluation` writes the output folder and MLflow run from the merged scores.
    """
    settings = load_settings(EvaluationSettings, params_file)
    paths = input_paths(stage.path("--model", root), stage.path("--manifest", root),
                        stage.path("--descriptions", root), stage.path("--boxes", root))
    out_dir = stage.path("--out-dir", root)
    work_dir = fanout_dir(out_dir)
    with _recorded(stage, root, settings):
        inputs = tasks.check_evaluation_task(paths, settings)
        shard_manifests = tasks.split_task(paths["manifest"], shards, work_dir)
        futures = [tasks.score_part_task.submit({**paths, "manifest": shard}, settings) for shard in shard_manifests]
        scored = tasks.merge_scored_task([future.result() for future in futures])
        result = finish_evaluation(scored, inputs.manifest, out_dir, config=inputs.model.config, paths=paths,
                                   boxes=inputs.boxes.by_image if inputs.boxes is not None else None,
                                   settings=settings)
    shutil.rmtree(work_dir)
    return result.metrics.mean


def run_sharded_boxes(stage: Stage, root: Path, params_file: Path, *, dask_address: str, shards: int) -> Path:
    """Run `sharded_boxes_flow` with its shard tasks on the Dask cluster at `dask_address`."""
    return sharded_boxes_flow.with_options(task_runner=dask_task_runner(dask_address))(
        stage, root, params_file, shards)


def run_sharded_evaluation(
    stage: Stage, root: Path, params_file: Path, *, dask_address: str, shards: int
) -> dict[str, float]:
    """Run `sharded_evaluation_flow` with its shard tasks on the Dask cluster at `dask_address`."""
    return sharded_evaluation_flow.with_options(task_runner=dask_task_runner(dask_address))(
        stage, root, params_file, shards)
