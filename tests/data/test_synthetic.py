"""Synthetic datasets: real MVTec AD / VisA layouts, exact masks, determinism, indexability."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from filo.data.index import index_dataset
from filo.data.synthetic import (
    CATEGORIES,
    DEFAULT_CATEGORIES,
    DEFECT_TYPES,
    MIN_CHANGE,
    generate_dataset,
    synthesize,
)
from filo.errors import FiloError
from filo.io import sha256_file

COUNTS = {"image_size": 48, "n_train_good": 2, "n_test_good": 2, "n_test_per_defect": 2}


def _files(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): sha256_file(path) for path in sorted(root.rglob("*")) if path.is_file()}


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def mvtec_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset("mvtec", tmp_path_factory.mktemp("synth") / "mvtec", seed=3, **COUNTS)


@pytest.fixture(scope="module")
def visa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset("visa", tmp_path_factory.mktemp("synth") / "visa", seed=3, **COUNTS)


def test_demo_category_sets_are_disjoint_and_each_shows_every_defect_type() -> None:
    assert DEFAULT_CATEGORIES["mvtec"] == ("woven_fabric", "speckle_stone", "round_part")
    assert DEFAULT_CATEGORIES["visa"] == ("wood_grain", "grid_mesh", "trace_board", "capsule_blob")
    assert not set(DEFAULT_CATEGORIES["mvtec"]) & set(DEFAULT_CATEGORIES["visa"])
    for names in DEFAULT_CATEGORIES.values():
        shown = {defect for name in names for defect in CATEGORIES[name].defect_types}
        assert shown == set(DEFECT_TYPES)


def test_mvtec_layout_has_exactly_the_real_file_names(mvtec_root: Path) -> None:
    expected = set()
    for name in DEFAULT_CATEGORIES["mvtec"]:
        expected |= {f"{name}/train/good/{i:03d}.png" for i in range(2)}
        expected |= {f"{name}/test/good/{i:03d}.png" for i in range(2)}
        for defect in CATEGORIES[name].defect_types:
            expected |= {f"{name}/test/{defect}/{i:03d}.png" for i in range(2)}
            expected |= {f"{name}/ground_truth/{defect}/{i:03d}_mask.png" for i in range(2)}
    assert set(_files(mvtec_root)) == expected


def test_mvtec_masks_are_0_255_and_match_their_image_size(mvtec_root: Path) -> None:
    for mask_path in mvtec_root.glob("*/ground_truth/*/*_mask.png"):
        mask = Image.open(mask_path)
        values = set(np.unique(np.asarray(mask)).tolist())
        assert mask.mode == "L" and values == {0, 255}, mask_path
        image_path = mvtec_root / mask_path.relative_to(mvtec_root).as_posix().replace(
            "/ground_truth/", "/test/").replace("_mask.png", ".png")
        assert Image.open(image_path).size == mask.size == (48, 48)


def test_visa_split_csv_has_the_real_columns_and_splits(visa_root: Path) -> None:
    header, rows = _read_csv(visa_root / "split_csv" / "1cls.csv")
    assert header == ["object", "split", "label", "image", "mask"]
    for name in DEFAULT_CATEGORIES["visa"]:
        mine = [row for row in rows if row["object"] == name]
        train = [row for row in mine if row["split"] == "train"]
        anomalies = [row for row in mine if row["label"] == "anomaly"]
        assert len(train) == 2 and all(row["label"] == "normal" for row in train)
        assert len([row for row in mine if row["split"] == "test" and row["label"] == "normal"]) == 2
        assert len(anomalies) == 2 * len(CATEGORIES[name].defect_types)
        assert all(row["split"] == "test" for row in anomalies)
    for row in rows:
        assert (visa_root / row["image"]).is_file()
        if row["label"] == "normal":
            assert row["mask"] == "" and row["image"].startswith(f"{row['object']}/Data/Images/Normal/")
        else:
            assert row["mask"].startswith(f"{row['object']}/Data/Masks/Anomaly/")
            assert Path(row["mask"]).name == Path(row["image"]).name
    assert sorted(path.name for path in visa_root.iterdir()) == sorted([*DEFAULT_CATEGORIES["visa"], "split_csv"])


def test_visa_masks_hold_the_defect_class_id_not_255(visa_root: Path) -> None:
    for name in DEFAULT_CATEGORIES["visa"]:
        header, anno = _read_csv(visa_root / name / "image_anno.csv")
        assert header == ["image", "label", "mask"]
        defects = [row for row in anno if row["label"] != "normal"]
        assert {row["label"] for row in defects} == set(CATEGORIES[name].defect_types)
        for row in defects:
            class_id = CATEGORIES[name].defect_types.index(row["label"]) + 1
            assert set(np.unique(np.asarray(Image.open(visa_root / row["mask"]))).tolist()) == {0, class_id}


@pytest.mark.parametrize("layout", ["mvtec", "visa"])
def test_every_category_and_defect_type_indexes_cleanly(layout: str, mvtec_root: Path, visa_root: Path,
                                                        tmp_path: Path) -> None:
    root = mvtec_root if layout == "mvtec" else visa_root
    result = index_dataset(root, tmp_path / "manifest.parquet", dataset=f"synth_{layout}", layout=layout)
    assert result.rejects == () and result.has_masks
    found = set(zip(result.manifest["category"], result.manifest["defect_type"], strict=True))
    expected = {(name, defect) for name in DEFAULT_CATEGORIES[layout]
                for defect in ("good", *CATEGORIES[name].defect_types)}
    assert found == expected
    anomalous = result.manifest[result.manifest["label"] == 1]
    assert len(anomalous) == sum(2 * len(CATEGORIES[name].defect_types) for name in DEFAULT_CATEGORIES[layout])


@pytest.mark.parametrize("layout", ["mvtec", "visa"])
def test_same_seed_gives_identical_bytes_and_another_seed_other_images(layout: str, tmp_path: Path,
                                                                       mvtec_root: Path, visa_root: Path) -> None:
    reference = _files(mvtec_root if layout == "mvtec" else visa_root)
    assert _files(generate_dataset(layout, tmp_path / "same", seed=3, **COUNTS)) == reference
    other = _files(generate_dataset(layout, tmp_path / "other", seed=4, **COUNTS))
    assert other.keys() == reference.keys()
    images = [name for name in reference if name.endswith(".png") and "mask" not in name.lower()]
    assert all(other[name] != reference[name] for name in images)


def test_an_image_does_not_depend_on_the_other_counts(tmp_path: Path) -> None:
    small = generate_dataset("mvtec", tmp_path / "small", seed=1, categories=["round_part"], **COUNTS)
    larger = generate_dataset("mvtec", tmp_path / "larger", seed=1, categories=["round_part"], image_size=48,
                              n_train_good=1, n_test_good=5, n_test_per_defect=1)
    small_files, larger_files = _files(small), _files(larger)
    assert small_files["round_part/test/good/001.png"] == larger_files["round_part/test/good/001.png"]
    assert small_files["round_part/test/crack/000.png"] == larger_files["round_part/test/crack/000.png"]


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_masks_are_exactly_the_changed_pixels_with_varied_sizes(name: str) -> None:
    category = CATEGORIES[name]
    for defect in category.defect_types:
        areas = []
        for draw in range(6):
            sample = synthesize(category, defect, 64, np.random.default_rng([draw]))
            change = np.abs(sample.image.astype(int) - sample.clean.astype(int)).max(axis=2)
            np.testing.assert_array_equal(change > 0, sample.mask)
            assert change[sample.mask].min() >= MIN_CHANGE
            assert change[sample.mask].mean() >= 2 * MIN_CHANGE, f"{name}/{defect} is too faint"
            areas.append(sample.mask.mean())
        assert 0.004 <= min(areas) and max(areas) <= 0.15, (name, defect, areas)
        assert max(areas) > 1.3 * min(areas), f"{name}/{defect} sizes do not vary: {areas}"


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_normal_samples_vary_but_have_no_mask(name: str) -> None:
    first, second = (synthesize(CATEGORIES[name], None, 64, np.random.default_rng([draw])) for draw in (0, 1))
    assert not first.mask.any() and first.image.dtype == np.uint8 and first.image.shape == (64, 64, 3)
    assert np.abs(first.image.astype(int) - second.image.astype(int)).mean() > 3


def test_existing_folder_is_kept_unless_overwrite_is_asked(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FiloError, match="already exists"):
        generate_dataset("mvtec", out, seed=0, categories=["round_part"], **COUNTS)
    assert (out / "mine.txt").read_text() == "keep"
    generate_dataset("mvtec", out, seed=0, categories=["round_part"], overwrite=True, **COUNTS)
    assert not (out / "mine.txt").exists() and (out / "round_part" / "train" / "good" / "000.png").is_file()


def test_a_crash_leaves_no_partial_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from filo.data.synthetic import layouts

    calls = []

    def failing_synthesize(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("disk full")
        return synthesize(*args, **kwargs)

    monkeypatch.setattr(layouts, "synthesize", failing_synthesize)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_dataset("visa", tmp_path / "visa", seed=0, **COUNTS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "btad"}, "unknown dataset layout 'btad'"),
        ({"categories": ["bottle"]}, r"unknown synthetic categories \['bottle'\]"),
        ({"categories": ["round_part", "round_part"]}, "listed twice"),
        ({"image_size": 8}, "image_size 8 is too small"),
        ({"n_test_per_defect": 0}, "n_test_per_defect must be at least 1"),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict, message: str, tmp_path: Path) -> None:
    arguments = {"layout": "mvtec", "out_dir": tmp_path / "out", "seed": 0, **COUNTS, **kwargs}
    with pytest.raises(FiloError, match=message):
        generate_dataset(**arguments)
