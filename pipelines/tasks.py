"""Prefect tasks: a pipeline stage run exactly as `filo` runs it, and the pieces of the fanned-out stages.

Network-bound stages (dataset download, LLM descriptions) retry with exponential backoff
and jitter. No task caches results: every stage writes its artifact atomically, and
skipping up-to-date stages is DVC's job (`dvc repro`).
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from filo.boxes.stage import extract_boxes_stage
from filo.evaluation.evaluate import load_evaluation_inputs, score_evaluation_part

from . import sharding
from .dag import Stage

NETWORK_RETRIES = 3
"""Retries of a network-bound task after its first failure."""
NETWORK_BACKOFF_S = 30.0
"""First retry delay of a network-bound task; it doubles on each retry (with up to ±50% jitter)."""

_LOCAL = {"cache_policy": NO_CACHE}
_NETWORK = {
    **_LOCAL,
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=NETWORK_BACKOFF_S),
    "retry_jitter_factor": 0.5,
}


def run_stage(stage: Stage, root: Path, params_file: Path) -> None:
    """Run `stage` as `dvc repro` does: its command line (paths under `root`, e.g. "." for the working directory)
    parsed by the parser its declaration derives for `filo`, run as that pipeline stage (so it is recorded in
    MLflow like under DVC).

    Errors propagate (Prefect marks the task failed and retries network-bound stages).
    """
    from filo.cli import run_parsed

    argv = stage.argv(root, params_file)[len(stage.command):]
    run_parsed(stage.spec.parser().parse_args(argv), stage=stage.name)


stage_task = task(run_stage, name="stage", **_LOCAL)
network_stage_task = task(run_stage, name="network stage", **_NETWORK)
split_task = task(sharding.split_test_manifest, name="split test manifest", **_LOCAL)
merge_boxes_task = task(sharding.merge_box_shards, name="merge boxes shards", **_LOCAL)
merge_scored_task = task(sharding.merge_scored, name="merge scored shards", **_LOCAL)
boxes_task = task(extract_boxes_stage, name="extract boxes", **_LOCAL)
check_evaluation_task = task(load_evaluation_inputs, name="check evaluation inputs", **_LOCAL)
score_part_task = task(score_evaluation_part, name="score shard", **_LOCAL)
