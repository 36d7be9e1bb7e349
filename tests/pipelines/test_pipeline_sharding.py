"""Splitting a manifest into shards and merging shard results back: same result as one unsharded run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from filo.pipelines.sharding import merge_box_shards, merge_scored, split_test_manifest

from filo.boxes.artifact import read_boxes_metadata, rows_to_table, write_boxes_table
from filo.data.manifest import read_manifest
from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.evaluation.scoring import score_manifest
from filo.model.checkpoint import load_checkpoint


def test_split_covers_the_test_images_in_order_with_whole_categories(tiny_inputs, tmp_path):
    manifest = read_manifest(tiny_inputs.manifest)
    test = manifest[manifest["split"] == "test"]

    paths = split_test_manifest(tiny_inputs.manifest, 2, tmp_path / "shards")

    shards = [read_manifest(path) for path in paths]
    assert len(paths) == 2 == test["category"].nunique()
    assert [image_id for shard in shards for image_id in shard["image_id"]] == test["image_id"].tolist()
    assert all(shard["category"].nunique() == 1 for shard in shards)  # a category is never cut
    assert all(s.attrs == manifest.attrs for s in shards)
    assert all((s["split"] == "test").all() for s in shards)


def test_split_writes_fewer_shards_than_asked_when_categories_run_out(tiny_inputs, tmp_path):
    n_categories = read_manifest(tiny_inputs.manifest)["category"].nunique()

    paths = split_test_manifest(tiny_inputs.manifest, n_categories + 5, tmp_path / "shards")

    assert len(paths) == n_categories
    assert split_test_manifest(tiny_inputs.manifest, 1, tmp_path / "one") == [tmp_path / "one" / "shard-000.parquet"]


def test_split_refuses_zero_shards(tiny_inputs, tmp_path):
    with pytest.raises(FiloError, match="at least 1, got 0"):
        split_test_manifest(tiny_inputs.manifest, 0, tmp_path / "shards")


def _boxes_shard(path, image_ids, *, rules):
    rows = [{"image_id": image_id, "category": "c", "position": "center", "n_raw_boxes": 2, "n_kept_boxes": 1,
             "box_index": 0, "x1": 0.1, "y1": 0.2, "x2": 0.3, "y2": 0.4, "logit": 0.5, "phrase": "hole",
             "matched": True} for image_id in image_ids]
    write_boxes_table(rows_to_table(rows), path, rules=rules, detector={"config": "tiny"})
    return path


def test_merged_boxes_keep_shard_order_and_record_the_shared_settings(tmp_path):
    rules = {"box_threshold": 0.25, "rule": "authors"}
    first = _boxes_shard(tmp_path / "a.parquet", ["x/1.png", "x/2.png"], rules=rules)
    second = _boxes_shard(tmp_path / "b.parquet", ["y/1.png"], rules=rules)

    merged = merge_box_shards([first, second], tmp_path / "out" / "boxes.parquet")

    assert pq.read_table(merged).column("image_id").to_pylist() == ["x/1.png", "x/2.png", "y/1.png"]
    assert read_boxes_metadata(merged) == {"rules": rules, "detector": {"config": "tiny"}}


def test_merging_boxes_made_with_other_rules_is_refused(tmp_path):
    first = _boxes_shard(tmp_path / "a.parquet", ["x/1.png"], rules={"box_threshold": 0.25})
    second = _boxes_shard(tmp_path / "b.parquet", ["y/1.png"], rules={"box_threshold": 0.3})

    with pytest.raises(FiloError, match="b.parquet was made with other rules"):
        merge_box_shards([first, second], tmp_path / "boxes.parquet")
    assert not (tmp_path / "boxes.parquet").exists()


def test_merged_shard_scores_equal_the_unsharded_scores(tiny_inputs, tmp_path):
    model = load_checkpoint(tiny_inputs.model)
    descriptions = load_descriptions(tiny_inputs.descriptions)
    whole = score_manifest(model, read_manifest(tiny_inputs.manifest), descriptions, batch_size=4)

    shards = split_test_manifest(tiny_inputs.manifest, 3, tmp_path / "shards")
    merged = merge_scored([score_manifest(model, read_manifest(shard), descriptions, batch_size=4) for shard in shards])

    columns = ["image_id", "category", "defect_type", "label", "has_mask"]
    pd.testing.assert_frame_equal(merged.table[columns], whole.table[columns])
    np.testing.assert_allclose(merged.table["score"], whole.table["score"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(merged.anomaly_maps, whole.anomaly_maps, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(merged.masks, whole.masks)
    assert merged.masks.any()


def test_merging_nothing_is_an_error():
    with pytest.raises(FiloError, match="no scored shards"):
        merge_scored([])
    with pytest.raises(FiloError, match="no boxes shards"):
        merge_box_shards([], "unused.parquet")
