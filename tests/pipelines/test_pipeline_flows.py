"""The Prefect flows under the test harness, fanning out on a local Dask cluster of 2 (thread) workers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from filo.pipelines.fanout import fanout_dir, run_sharded_boxes, run_sharded_evaluation
from filo.stages.boxes import run_boxes

from filo.boxes.artifact import rows_to_table, write_boxes_table
from filo.boxes.rules import BoxRules
from filo.data.manifest import read_manifest
from filo.evaluation.evaluate import EvaluationSettings, evaluate

pytestmark = pytest.mark.slow

RULES = {"image_size": 64}


@pytest.fixture
def worker_torch_threads(dask_address) -> Iterator[None]:
    """Run this process's torch with the Dask workers' thread count for the test.

    Torch's CPU reductions add up in a thread-count-dependent order (last-bit differences
    in the detector's logits); with equal thread counts sharded and unsharded runs are identical.
    """
    import torch
    from distributed import Client

    with Client(dask_address) as client:
        [threads] = set(client.run(torch.get_num_threads).values())
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def test_sharded_boxes_equal_one_unsharded_run(prefect_server, dask_address, worker_torch_threads, tiny_inputs,
                                               tiny_detector, tmp_path):
    config, checkpoint = tiny_detector
    whole = run_boxes(tiny_inputs.manifest, tiny_inputs.descriptions, tmp_path / "whole.parquet", config=config,
                      checkpoint=checkpoint, device="cpu", rules=BoxRules(**RULES))

    out = tmp_path / "sharded" / "boxes.parquet"
    merged = run_sharded_boxes(dask_address=dask_address, manifest=tiny_inputs.manifest,
                               descriptions=tiny_inputs.descriptions, out=out, detector_config=config,
                               detector_checkpoint=checkpoint, rules=RULES, device="cpu", shards=3)

    assert merged == out
    assert pq.read_table(merged).equals(pq.read_table(whole), check_metadata=True)
    assert not fanout_dir(out).exists()


def _centre_boxes(manifest_path, path):
    """A boxes artifact with one matched centre box per test image (so suppression and positions apply)."""
    manifest = read_manifest(manifest_path)
    test = manifest[manifest["split"] == "test"]
    rows = [{"image_id": image_id, "category": category, "position": "center", "n_raw_boxes": 1,
             "n_kept_boxes": 1, "box_index": 0, "x1": 0.2, "y1": 0.2, "x2": 0.7, "y2": 0.8, "logit": 0.5,
             "phrase": "hole", "matched": True}
            for image_id, category in test[["image_id", "category"]].itertuples(index=False)]
    write_boxes_table(rows_to_table(rows), path, rules=None, detector=None)
    return path


def _assert_close_metrics(found: dict, expected: dict) -> None:
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, dict):
            _assert_close_metrics(found[key], value)
        elif isinstance(value, float) and not math.isnan(value):
            assert found[key] == pytest.approx(value, abs=1e-6), key
        else:
            assert found[key] == value, key


def test_sharded_evaluation_equals_filo_evaluate(prefect_server, dask_address, tiny_inputs, tmp_path):
    import mlflow

    boxes = _centre_boxes(tiny_inputs.manifest, tmp_path / "boxes.parquet")
    common = {"batch_size": 4, "device": "cpu", "gallery_size": 1, "box_lambda": 0.5}
    whole = evaluate(tiny_inputs.model, tiny_inputs.manifest, tiny_inputs.descriptions, tmp_path / "whole",
                     boxes_path=boxes, settings=EvaluationSettings(**common, experiment=None))

    out_dir = tmp_path / "sharded"
    mean = run_sharded_evaluation(dask_address=dask_address, model=tiny_inputs.model, manifest=tiny_inputs.manifest,
                                  descriptions=tiny_inputs.descriptions, boxes=boxes, out_dir=out_dir,
                                  options={**common, "experiment": "pipeline-test"}, shards=3)

    _assert_close_metrics(mean, whole.metrics.mean)
    for name in ("metrics.json", "metrics_detail.json", "verdict.json"):
        _assert_close_metrics(json.loads((out_dir / name).read_text()), json.loads((whole.out_dir / name).read_text()))
    sharded_scores = pd.read_parquet(out_dir / "scores.parquet")
    whole_scores = pd.read_parquet(whole.out_dir / "scores.parquet")
    assert sharded_scores["image_id"].tolist() == whole_scores["image_id"].tolist()
    np.testing.assert_allclose(sharded_scores["score"], whole_scores["score"], rtol=0, atol=1e-6)
    assert sorted(p.relative_to(out_dir) for p in out_dir.rglob("*")) == sorted(
        p.relative_to(whole.out_dir) for p in whole.out_dir.rglob("*"))
    assert not fanout_dir(out_dir).exists()
    [run] = mlflow.search_runs(experiment_names=["pipeline-test"], output_format="list")
    assert run.data.metrics["image_auroc"] == pytest.approx(whole.metrics.mean["image_auroc"], abs=1e-6)


PIPELINE_PARAMS = """
synth: {seed: 0, image_size: 64, n_train_good: 1, n_test_good: 1, n_test_per_defect: 1}
describe: {sources: "user,cache,defaults"}
boxes: {image_size: 64, batch_size: 4, device: cpu}
train: {model_preset: tiny, epochs: 1, adapter_epochs: 1, batch_size: 4, device: cpu, mlflow: false,
        progress: false}
evaluate: {batch_size: 4, device: cpu, gallery_size: 0, box_lambda: 0.7, experiment: null}
"""


def test_the_pipeline_flow_runs_both_directions_end_to_end(prefect_server, tmp_path, monkeypatch):
    from filo.pipelines.flows import PipelineLayout, filo_pipeline

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(PIPELINE_PARAMS, encoding="utf-8")

    result = filo_pipeline(params_file="params.yaml", root="run", shards=2, workers=2)

    layout = PipelineLayout((tmp_path / "run").resolve())
    metrics = result["metrics"]
    assert set(metrics) == {"mvtec_to_visa", "visa_to_mvtec"}
    for direction, target in (("mvtec_to_visa", "synth_visa"), ("visa_to_mvtec", "synth_mvtec")):
        document = json.loads((layout.evaluation(direction) / "metrics.json").read_text())
        assert document["image_auroc"] == pytest.approx(metrics[direction]["image_auroc"])
        assert layout.trained_model(direction).is_file()
        files = layout.dataset(target)
        boxes = pq.read_table(files.boxes).column("image_id").to_pylist()
        manifest = read_manifest(files.manifest)
        assert list(dict.fromkeys(boxes)) == manifest.loc[manifest["split"] == "test", "image_id"].tolist()
    assert not list(layout.root.rglob("*.fanout"))
    assert result["registration"]["alias"] == "champion"  # the first version registered in this store
    record = json.loads(layout.registration.read_text())
    assert record["gate_values"] == result["registration"]["decision"]["values"]
