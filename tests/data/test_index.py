"""Indexing MVTec AD and VisA trees: rows, stem pairing, validation with a full report, rejects, no masks."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from dataset_trees import build_mvtec_tree, build_visa_tree, save_image, save_mask, write_csv
from PIL import Image

from filo.data.index import default_rejects_path, detect_layout, format_summary, index_dataset, scan_dataset
from filo.data.manifest import read_manifest
from filo.errors import FiloError


def test_mvtec_tree_indexes_every_image_with_its_mask(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec", categories=("bolt", "metal_nut"))
    out = tmp_path / "m.parquet"
    result = index_dataset(root, out, dataset="mvtec")
    frame = read_manifest(out)
    assert result.layout == "mvtec" and frame.attrs["has_masks"] is True
    assert len(frame) == 12
    assert frame["image_id"].is_monotonic_increasing
    row = frame.set_index("image_id").loc["metal_nut/test/crack/001.png"]
    assert (row["category"], row["split"], row["label"], row["defect_type"]) == (
        "metal_nut",
        "test",
        1,
        "crack",
    )
    assert row["mask_path"] == f"{root.as_posix()}/metal_nut/ground_truth/crack/001_mask.png"
    assert row["image_path"] == f"{root.as_posix()}/metal_nut/test/crack/001.png"
    assert (row["width"], row["height"]) == (24, 16)
    normal = frame[frame["label"] == 0]
    assert (normal["defect_type"] == "good").all() and normal["mask_path"].isna().all()
    assert sorted(frame.groupby("split").size().items()) == [("test", 8), ("train", 4)]


def test_masks_pair_by_stem_not_by_position(tmp_path):
    root = tmp_path / "mvtec"
    for stem in ("002", "010"):
        save_image(root / f"cap/test/crack/{stem}.png")
    save_mask(root / "cap/ground_truth/crack/010_mask.png")
    save_mask(root / "cap/ground_truth/crack/002_mask.png")
    frame = scan_dataset(root, dataset="d").manifest.set_index("image_id")
    assert frame.loc["cap/test/crack/010.png", "mask_path"].endswith("crack/010_mask.png")
    assert frame.loc["cap/test/crack/002.png", "mask_path"].endswith("crack/002_mask.png")


def test_missing_and_extra_masks_are_errors_naming_the_files(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec")
    (root / "bolt/ground_truth/crack/001_mask.png").unlink()
    save_mask(root / "bolt/ground_truth/crack/077_mask.png")
    with pytest.raises(FiloError) as caught:
        index_dataset(root, tmp_path / "m.parquet", dataset="mvtec")
    message = str(caught.value)
    assert "2 bad file(s)" in message
    assert "bolt/test/crack/001.png / mask " in message and "mask file not found" in message
    assert "bolt/ground_truth/crack/077_mask.png: mask without an image" in message
    assert "--skip-bad" in message
    assert not (tmp_path / "m.parquet").exists()


def _corrupt_tree(tmp_path):
    """An MVTec tree with one file of every kind of problem the validation must catch."""
    root = build_mvtec_tree(tmp_path / "mvtec")
    data = (root / "bolt/train/good/001.png").read_bytes()
    (root / "bolt/train/good/001.png").write_bytes(data[: len(data) // 2])  # truncated
    save_mask(root / "bolt/ground_truth/crack/000_mask.png", size=(12, 8))  # wrong size
    save_mask(root / "bolt/ground_truth/crack/001_mask.png", value=0)  # empty
    (root / "bolt/test/hole/notes.txt").write_text("not an image")
    return root


def test_validation_reports_every_problem_at_once(tmp_path):
    root = _corrupt_tree(tmp_path)
    with pytest.raises(FiloError) as caught:
        index_dataset(root, tmp_path / "m.parquet", dataset="mvtec")
    message = str(caught.value)
    assert "4 bad file(s)" in message
    assert "train/good/001.png: unreadable image" in message
    assert "mask size 12x8 differs from image size 24x16" in message
    assert "crack/001_mask.png: empty mask on an anomalous image" in message
    assert "hole/notes.txt: not an image file" in message


def test_skip_bad_writes_rejects_and_indexes_the_rest(tmp_path):
    root = _corrupt_tree(tmp_path)
    out = tmp_path / "m.parquet"
    result = index_dataset(root, out, dataset="mvtec", skip_bad=True)
    rejects = pd.read_parquet(default_rejects_path(out))
    assert default_rejects_path(out).name == "m.rejects.parquet"
    assert list(rejects.columns) == ["image_path", "mask_path", "reason"]
    assert len(rejects) == 4 == len(result.rejects)
    frame = read_manifest(out)
    assert len(frame) == 3  # 6 images, 3 rejected; the fourth reject is a stray non-image file
    assert "bolt/train/good/001.png" not in set(frame["image_id"])
    assert "4 file(s) rejected" in format_summary(result)


def test_skip_bad_writes_an_empty_rejects_file_when_all_is_well(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec")
    out = tmp_path / "m.parquet"
    index_dataset(root, out, dataset="mvtec", skip_bad=True, rejects_out=tmp_path / "r.parquet")
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 0


def test_full_decode_catches_damage_the_end_marker_check_misses(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec")
    path = root / "bolt/train/good/000.png"
    data = bytearray(path.read_bytes())
    data[60:80] = bytes(20)  # corrupt compressed data, keep the IEND chunk
    path.write_bytes(bytes(data))
    assert len(scan_dataset(root, dataset="d").rejects) == 0
    rejects = scan_dataset(root, dataset="d", full_decode=True).rejects
    assert [item.image_path.endswith("bolt/train/good/000.png") for item in rejects] == [True]


def test_grayscale_rgba_and_16_bit_images_are_accepted(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec")
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(root / "bolt/train/good/000.png")
    Image.fromarray(np.zeros((16, 24, 4), np.uint8), mode="RGBA").save(root / "bolt/train/good/001.png")
    Image.fromarray(np.full((16, 24), 40000, np.uint16)).save(root / "bolt/test/good/000.png")
    result = scan_dataset(root, dataset="d", full_decode=True)
    assert result.rejects == () and len(result.manifest) == 6


def test_tree_without_ground_truth_indexes_with_null_masks(tmp_path):
    root = build_mvtec_tree(tmp_path / "own", with_masks=False)
    out = tmp_path / "own.parquet"
    index_dataset(root, out, dataset="own")
    frame = read_manifest(out)
    assert frame["mask_path"].isna().all()
    assert frame.attrs["has_masks"] is False
    assert (frame.loc[frame["defect_type"] == "crack", "label"] == 1).all()


def test_masks_for_some_defects_only_clear_the_has_masks_flag(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec")
    shutil.rmtree(root / "bolt/ground_truth/hole")
    result = scan_dataset(root, dataset="d")
    assert result.rejects == ()
    frame = result.manifest.set_index("image_id")
    assert pd.isna(frame.loc["bolt/test/hole/000.png", "mask_path"])
    assert isinstance(frame.loc["bolt/test/crack/000.png", "mask_path"], str)
    assert result.has_masks is False


def test_anomalous_train_folder_is_a_layout_error(tmp_path):
    root = build_mvtec_tree(tmp_path / "mvtec")
    save_image(root / "bolt/train/crack/000.png")
    with pytest.raises(FiloError, match="train/crack.*only normal images under train/"):
        scan_dataset(root, dataset="d")


def test_root_without_categories_says_what_to_pass(tmp_path):
    build_mvtec_tree(tmp_path / "outer/mvtec")
    with pytest.raises(FiloError, match="no category folders .* under .*outer"):
        scan_dataset(tmp_path / "outer", dataset="d")
    with pytest.raises(FiloError, match="is not a directory"):
        scan_dataset(tmp_path / "absent", dataset="d", layout="mvtec")


def test_visa_tree_reads_split_file_and_class_id_masks(tmp_path):
    root = build_visa_tree(tmp_path / "visa", mask_value=3)
    assert detect_layout(root) == "visa"
    out = tmp_path / "visa.parquet"
    result = index_dataset(root, out, dataset="visa")
    frame = read_manifest(out).set_index("image_id")
    assert result.layout == "visa" and frame.attrs["has_masks"] is True
    assert len(frame) == 5
    assert frame.loc["pcb1/Data/Images/Anomaly/001.JPG", "defect_type"] == "scratch"
    assert frame.loc["pcb1/Data/Images/Anomaly/000.JPG", "mask_path"].endswith("Masks/Anomaly/000.png")
    assert frame.loc["pcb1/Data/Images/Normal/0000.JPG", "split"] == "train"
    assert (frame["category"] == "pcb1").all()


def test_visa_reads_columns_by_name_and_defaults_the_defect_type(tmp_path):
    root = build_visa_tree(tmp_path / "visa", anno=False)
    split_file = root / "split_csv/1cls.csv"
    reordered = pd.read_csv(split_file, dtype=str, keep_default_na=False)[
        ["image", "mask", "label", "split", "object"]
    ]
    reordered.to_csv(split_file, index=False)
    frame = scan_dataset(root, dataset="visa").manifest
    anomalies = frame[frame["label"] == 1]
    assert len(anomalies) == 2 and (anomalies["defect_type"] == "anomaly").all()


def test_visa_row_problems_are_reported(tmp_path):
    root = build_visa_tree(tmp_path / "visa")
    rows = [
        ("pcb1", "test", "anomaly", "pcb1/Data/Images/Anomaly/000.JPG", ""),
        ("pcb1", "test", "broken", "pcb1/Data/Images/Anomaly/001.JPG", ""),
        ("pcb1", "test", "normal", "../outside.JPG", ""),
    ]
    write_csv(root / "split_csv/1cls.csv", ("object", "split", "label", "image", "mask"), rows)
    reasons = sorted(item.reason for item in scan_dataset(root, dataset="visa").rejects)
    assert reasons[0] == "anomalous image without a mask"
    assert "label 'broken'" in reasons[1]
    assert "outside the dataset root" in reasons[2]


def test_visa_split_file_without_required_columns(tmp_path):
    root = build_visa_tree(tmp_path / "visa")
    write_csv(root / "split_csv/1cls.csv", ("object", "split", "image"), [("pcb1", "train", "x.JPG")])
    with pytest.raises(FiloError, match=r"1cls.csv lacks the column\(s\) \['label', 'mask'\]"):
        scan_dataset(root, dataset="visa")
