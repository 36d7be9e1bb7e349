"""The Prefect flows under the test harness, fanning out on a local Dask cluster of 2 (thread) workers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from filo.pipelines.dag import Stage
from filo.pipelines.fanout import fanout_dir, run_sharded

from filo.boxes.artifact import rows_to_table, write_boxes_table
from filo.boxes.rules import BoxRules
from filo.boxes.stage import BOXES, BoxesSettings, extract_boxes_stage
from filo.data.manifest import read_manifest
from filo.evaluation.evaluate import evaluate
from filo.evaluation.settings import EvaluationSettings
from filo.evaluation.stage import EVALUATE

pytestmark = pytest.mark.slow

BOXES_SETTINGS = BoxesSettings(rules=BoxRules(image_size=64), device="cpu")


def _params_file(path, section: str, values: dict):
    path.write_text(yaml.safe_dump({section: values}), encoding="utf-8")
    return path


def test_sharded_boxes_equal_one_unsharded_run(prefect_server, dask_address, tiny_inputs, tiny_detector,
                                               tmp_path):
    # Bytes: the workers compute with this process's thread count (filo.kernels.use_reproducible_kernels).
    whole = extract_boxes_stage(tiny_inputs.manifest, tiny_inputs.descriptions, tiny_detector,
                                tmp_path / "whole.parquet", BOXES_SETTINGS)

    out = tmp_path / "sharded" / "boxes.parquet"
    stage = Stage("boxes", BOXES.bind(manifest=tiny_inputs.manifest, descriptions=tiny_inputs.descriptions,
                                      detector=tiny_detector, out=out))
    params = _params_file(tmp_path / "params.yaml", "boxes", {"rules": {"image_size": 64}, "device": "cpu"})
    # the stage's paths are absolute, so they stay as they are under any run root
    merged = run_sharded(stage, tmp_path, params, dask_address=dask_address, shards=3)

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
    stage = Stage("evaluate", EVALUATE.bind(model=tiny_inputs.model, manifest=tiny_inputs.manifest,
                                            descriptions=tiny_inputs.descriptions, boxes=boxes, out_dir=out_dir))
    params = _params_file(tmp_path / "params.yaml", "evaluate", {**common, "experiment": "pipeline-test"})
    mean = run_sharded(stage, tmp_path, params, dask_address=dask_address, shards=3)

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
