"""Manifest Parquet: round trip with dtypes and metadata, validation errors that name the problem."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from filo.data.manifest import COLUMNS, read_manifest, read_manifest_metadata, write_manifest
from filo.errors import FiloError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["bolt/train/good/000.png", "bolt/test/crack/000.png"],
            "dataset": ["mvtec", "mvtec"],
            "category": ["bolt", "bolt"],
            "split": ["train", "test"],
            "label": [0, 1],
            "defect_type": ["good", "crack"],
            "image_path": ["root/bolt/train/good/000.png", "root/bolt/test/crack/000.png"],
            "mask_path": [None, "root/bolt/ground_truth/crack/000_mask.png"],
            "width": [64, 64],
            "height": [48, 48],
        }
    )


def test_round_trip_keeps_values_dtypes_and_metadata(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(_frame(), path, root="root", has_masks=True)
    frame = read_manifest(path)
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["label"].dtype) == "int8"
    assert str(frame["width"].dtype) == "int32" and str(frame["height"].dtype) == "int32"
    assert frame["mask_path"].isna().tolist() == [True, False]
    assert frame["image_id"].tolist() == _frame()["image_id"].tolist()
    assert frame.attrs == {"root": "root", "has_masks": True}
    metadata = pq.read_schema(path).metadata
    assert metadata[b"filo.schema_version"] == b"1"
    assert metadata[b"filo.has_masks"] == b"true"
    assert read_manifest_metadata(path).root == "root"


def test_has_masks_false_is_stored(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(_frame(), path, root="r", has_masks=False)
    assert read_manifest(path).attrs["has_masks"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["width"]), r"lacks the column\(s\) \['width'\]"),
        (lambda f: f.assign(image_id=["a", "a"]), "share an image_id.*a"),
        (lambda f: f.assign(split=["train", "val"]), "split other than"),
        (lambda f: f.assign(label=[0, 2]), "label other than 0/1"),
        (lambda f: f.assign(defect_type=["good", "good"]), "disagree between label and defect_type"),
        (lambda f: f.assign(mask_path=["m.png", None]), "normal but have a mask_path"),
        (lambda f: f.assign(width=[0, 4]), "non-positive width"),
        (lambda f: f.assign(label=[0.0, 1.5]), "'label' must be integer"),
        (lambda f: f.assign(category=["bolt", None]), "'category' has 1 empty"),
    ],
)
def test_invalid_frames_are_refused_before_writing(tmp_path, change, message):
    path = tmp_path / "m.parquet"
    with pytest.raises(FiloError, match=message):
        write_manifest(change(_frame()), path, root="r", has_masks=True)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_reading_checks_the_file_too(tmp_path):
    path = tmp_path / "plain.parquet"
    _frame().to_parquet(path)
    with pytest.raises(FiloError, match="plain.parquet has schema version None"):
        read_manifest(path)
    with pytest.raises(FiloError, match="manifest not found: .*absent.parquet"):
        read_manifest(tmp_path / "absent.parquet")
    (tmp_path / "junk.parquet").write_text("junk")
    with pytest.raises(FiloError, match="junk.parquet is not a readable Parquet"):
        read_manifest(tmp_path / "junk.parquet")


def test_crash_while_writing_keeps_the_previous_manifest(tmp_path, monkeypatch):
    path = tmp_path / "m.parquet"
    write_manifest(_frame(), path, root="first", has_masks=True)

    def write_half_then_crash(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", write_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        write_manifest(_frame(), path, root="second", has_masks=True)
    monkeypatch.undo()
    assert read_manifest(path).attrs["root"] == "first"
    assert [item.name for item in tmp_path.iterdir()] == ["m.parquet"]
