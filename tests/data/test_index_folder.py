"""Your folder as a dataset: good images, optional defect folders and masks, bad files listed, nothing copied."""

from __future__ import annotations

import pytest
from dataset_trees import save_image, save_mask

from filo.data.index import index_dataset, scan_dataset
from filo.data.manifest import read_manifest
from filo.data.synthetic import generate_dataset
from filo.errors import FiloError


def test_a_folder_of_good_images_is_a_calibration_set_with_no_labels_to_score(tmp_path):
    root = tmp_path / "gear wheels"
    for index in range(3):
        save_image(root / f"{index:03d}.png", seed=index)
    result = index_dataset(root, tmp_path / "m.parquet", dataset="line3", layout="folder")
    frame = read_manifest(tmp_path / "m.parquet")
    assert set(frame["category"]) == {"gear wheels"} and (frame["split"] == "test").all()
    assert (frame["label"] == 0).all() and not result.has_masks
    # nothing is copied: the manifest points at the user's own files
    assert sorted(frame["image_path"]) == sorted(path.as_posix() for path in root.glob("*.png"))
    assert {path.name for path in root.iterdir()} == {"000.png", "001.png", "002.png"}


def test_defect_folders_give_labels_and_masks_give_pixels(tmp_path):
    root = tmp_path / "line"
    save_image(root / "good" / "a.png")
    save_image(root / "scratch" / "s1.png")
    save_mask(root / "ground_truth" / "scratch" / "s1_mask.png")
    save_image(root / "dent" / "d1.png")  # a defect without masks: image labels only
    frame = scan_dataset(root, dataset="line", layout="folder", categories=("gear_wheel",)).manifest.set_index(
        "image_id")
    assert frame.loc["scratch/s1.png", "mask_path"] == (root / "ground_truth" / "scratch" / "s1_mask.png").as_posix()
    assert frame.loc["dent/d1.png", ["label", "defect_type"]].tolist() == [1, "dent"]
    assert frame["mask_path"].isna().sum() == 2 and set(frame["category"]) == {"gear_wheel"}


def test_bad_files_are_listed_with_their_reasons(tmp_path):
    root = tmp_path / "line"
    save_image(root / "good" / "a.png")
    (root / "notes.txt").write_text("not an image")
    (root / "good" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    save_image(root / "scratch" / "s1.png")
    save_image(root / "scratch" / "s2.png")
    save_mask(root / "ground_truth" / "scratch" / "s1_mask.png")
    save_mask(root / "ground_truth" / "scratch" / "orphan_mask.png")
    result = scan_dataset(root, dataset="line", layout="folder")
    reasons = {(reject.image_path or reject.mask_path).rsplit("/", 1)[-1]: reject.reason for reject in result.rejects}
    assert reasons["notes.txt"].startswith("not an image file")
    assert reasons["broken.png"].startswith("unreadable image")
    assert reasons["s2.png"] == "mask file not found"
    assert reasons["orphan_mask.png"].startswith("mask without an image")
    with pytest.raises(FiloError, match="4 bad file"):
        index_dataset(root, tmp_path / "m.parquet", dataset="line", layout="folder")
    assert not (tmp_path / "m.parquet").exists()


def test_an_empty_folder_and_a_folder_of_non_images_fail_with_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FiloError, match="no usable images found in .*empty"):
        index_dataset(tmp_path / "empty", tmp_path / "m.parquet", dataset="x", layout="folder")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("text")
    with pytest.raises(FiloError, match="a.txt: not an image file"):
        index_dataset(tmp_path / "docs", tmp_path / "m.parquet", dataset="x", layout="folder")


def test_the_synthetic_product_folder_indexes_as_a_folder(tmp_path):
    root = generate_dataset("folder", tmp_path / "product", seed=0, categories=["round_part"], image_size=32,
                            n_train_good=1, n_test_good=3, n_test_per_defect=1)
    result = scan_dataset(root, dataset="my_product", layout="folder", categories=("gear_wheel",))
    assert not result.rejects and result.has_masks
    counts = result.manifest.groupby("label").size().to_dict()
    assert counts == {0: 3, 1: 4}  # round_part shows four defect types; no training images in a folder
