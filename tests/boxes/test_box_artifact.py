"""The boxes Parquet: rows, metadata, load_boxes."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from filo.boxes.artifact import (
    decision_rows,
    error_row,
    load_boxes,
    read_boxes_metadata,
    rows_to_table,
    write_boxes_table,
)
from filo.boxes.rules import ImageDecision, KeptBox
from filo.errors import FiloError


def sample_rows() -> list[dict]:
    decision = ImageDecision(
        n_raw_boxes=900,
        kept=(
            KeptBox(3, (0.1, 0.2, 0.3, 0.4), 0.6, "scratch", True),
            KeptBox(7, (0.5, 0.5, 0.9, 0.9), 0.4, "surface", False),
            KeptBox(8, (0.0, 0.0, 1.0, 0.5), 0.3, "hole", True),
        ),
        position="top left",
    )
    gap = ImageDecision(n_raw_boxes=900, kept=(KeptBox(0, (0.3, 0.3, 0.4, 0.4), 0.5, "dent", False),), position=None)
    return [
        *decision_rows("a.png", "cat", decision),
        *decision_rows("b.png", "cat", gap),
        error_row("c.png", "cat", "cannot read image c.png"),
    ]


def test_rows_round_trip_through_load_boxes(tmp_path):
    path = tmp_path / "boxes.parquet"
    rules = {"box_threshold": 0.25, "rule": "authors"}
    detector = {"config": "GroundingDINO_SwinT_OGC", "checkpoint_sha256": "ab" * 32}
    write_boxes_table(rows_to_table(sample_rows()), path, rules=rules, detector=detector)

    boxes = load_boxes(path)
    assert list(boxes) == ["a.png", "b.png", "c.png"]
    a = boxes["a.png"]
    assert a.position == "top left" and a.error is None
    np.testing.assert_allclose(a.boxes, [[0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 1.0, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(a.logits, [0.6, 0.3], rtol=1e-6)
    assert a.phrases == ("scratch", "hole")
    assert boxes["b.png"].position is None and boxes["b.png"].boxes.shape == (0, 4)
    assert boxes["c.png"].error == "cannot read image c.png" and boxes["c.png"].position is None
    assert read_boxes_metadata(path) == {"rules": rules, "detector": detector}


def test_table_has_one_row_per_kept_box(tmp_path):
    table = rows_to_table(sample_rows())
    assert table.num_rows == 5
    assert table.column("box_index").to_pylist() == [0, 1, 2, 0, None]
    assert table.column("n_kept_boxes").to_pylist() == [3, 3, 3, 1, 0]
    assert table.column("n_raw_boxes").to_pylist() == [900, 900, 900, 900, 0]


def test_missing_columns_are_reported(tmp_path):
    path = tmp_path / "boxes.parquet"
    write_boxes_table(rows_to_table(sample_rows()), path, rules=None, detector=None)
    table = pq.read_table(path).drop_columns(["phrase"])
    pq.write_table(table, path)
    with pytest.raises(FiloError, match=r"lacks columns \['phrase'\]"):
        load_boxes(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(FiloError, match="filo boxes"):
        load_boxes(tmp_path / "absent.parquet")
