"""Prefect tasks: the pipeline's stage functions, wrapped as they are (same functions as the CLI and DVC).

Network-bound stages (dataset download, LLM descriptions) retry with exponential backoff
and jitter. No task caches results: every stage writes its artifact atomically, and
skipping up-to-date stages is DVC's job (`dvc repro`).
"""

from __future__ import annotations

import os
from pathlib import Path

from filo.stages.boxes import make_tiny, run_boxes
from filo.stages.describe import describe_manifest
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from filo.data.download import download_dataset
from filo.data.index import index_dataset
from filo.data.synthetic import generate_dataset
from filo.registry.registration import register_bundle

from . import sharded_evaluation, sharding

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

synthesize_task = task(generate_dataset, name="synthesize dataset", **_LOCAL)
download_task = task(download_dataset, name="download dataset", **_NETWORK)
index_task = task(index_dataset, name="index dataset", **_LOCAL)
describe_task = task(describe_manifest, name="describe categories", **_NETWORK)
make_detector_task = task(make_tiny, name="make tiny detector", **_LOCAL)
boxes_task = task(run_boxes, name="extract boxes", **_LOCAL)
split_task = task(sharding.split_test_manifest, name="split test manifest", **_LOCAL)
merge_boxes_task = task(sharding.merge_box_shards, name="merge boxes shards", **_LOCAL)
merge_scored_task = task(sharding.merge_scored, name="merge scored shards", **_LOCAL)
check_evaluation_task = task(sharded_evaluation.check_evaluation_inputs, name="check evaluation inputs", **_LOCAL)
score_shard_task = task(sharded_evaluation.score_shard, name="score shard", **_LOCAL)
register_task = task(register_bundle, name="register model", **_LOCAL)
finish_evaluation_task = task(sharded_evaluation.finish_sharded_evaluation, name="finish evaluation", **_LOCAL)


@task(name="train model", **_LOCAL)
def train_task(
    manifest: str | os.PathLike,
    descriptions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    params_file: str | os.PathLike | None,
    eval_manifest: str | os.PathLike,
) -> Path:
    """`filo train` with the `train:` section of `params_file`; returns the checkpoint path."""
    from filo.training import load_train_params, train

    params = load_train_params(params_file)
    return train(manifest, descriptions, out, params, eval_manifest_path=eval_manifest).checkpoint

