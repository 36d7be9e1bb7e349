"""AnomalyDataset: CLIP preprocessing, mask binarization and alignment, mosaic augmentation, batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from open_clip import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from PIL import Image

from filo.data.manifest import validate_manifest_frame
from filo.data.torch_dataset import AnomalyDataset, category_batches
from filo.errors import FiloError

TILE = 16
#: Solid tile colours per (category, row number); every tile is identifiable by its colour.
COLORS = {"alpha": [(200, 40, 40), (40, 200, 40), (40, 40, 200)], "beta": [(250, 250, 0), (0, 250, 250)]}


def _row(root: Path, category: str, number: int, *, label: int, defect: str, mask: np.ndarray | None,
         size: tuple[int, int] = (TILE, TILE), pixels: np.ndarray | None = None) -> dict:
    width, height = size
    image_id = f"{category}/test/{defect}/{number:03d}.png"
    image_path = root / image_id
    image_path.parent.mkdir(parents=True, exist_ok=True)
    if pixels is None:
        pixels = np.broadcast_to(np.array(COLORS[category][number], np.uint8), (height, width, 3))
    Image.fromarray(np.ascontiguousarray(pixels)).save(image_path)
    mask_path = None
    if mask is not None:
        mask_path = root / f"{category}/ground_truth/{defect}/{number:03d}_mask.png"
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(mask_path)
    return {"image_id": image_id, "dataset": "toy", "category": category, "split": "test", "label": label,
            "defect_type": defect, "image_path": image_path.as_posix(),
            "mask_path": mask_path.as_posix() if mask_path else None, "width": width, "height": height}


def _manifest(rows: list[dict]) -> pd.DataFrame:
    return validate_manifest_frame(pd.DataFrame(rows), "test manifest")


@pytest.fixture
def toy_manifest(tmp_path: Path) -> pd.DataFrame:
    """Two categories of solid tiles; anomalous tiles have a full-tile mask (alpha uses VisA-style id 2)."""
    full = np.full((TILE, TILE), 2, np.uint8)
    return _manifest([
        _row(tmp_path, "alpha", 0, label=0, defect="good", mask=None),
        _row(tmp_path, "alpha", 1, label=0, defect="good", mask=None),
        _row(tmp_path, "alpha", 2, label=1, defect="crack", mask=full),
        _row(tmp_path, "beta", 0, label=0, defect="good", mask=None),
        _row(tmp_path, "beta", 1, label=1, defect="hole", mask=full * 127),
    ])


def test_image_is_squashed_to_the_model_size_by_default_as_the_authors_do(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50, 3), np.uint8)
    manifest = _manifest([_row(tmp_path, "alpha", 0, label=0, defect="good", mask=None, size=(50, 30),
                               pixels=pixels)])
    item = AnomalyDataset(manifest, 20)[0]
    resized = np.asarray(Image.fromarray(pixels).resize((20, 20), Image.Resampling.BICUBIC), np.float32) / 255
    expected = (resized - np.array(OPENAI_DATASET_MEAN)) / np.array(OPENAI_DATASET_STD)
    np.testing.assert_allclose(item["image"].numpy(), expected.transpose(2, 0, 1), atol=1e-5)


def test_squashed_mask_follows_the_squashed_image(tmp_path: Path) -> None:
    mask = np.zeros((20, 40), np.uint8)
    mask[:, 10:20] = 1
    manifest = _manifest([_row(tmp_path, "alpha", 0, label=1, defect="crack", mask=mask, size=(40, 20),
                               pixels=np.zeros((20, 40, 3), np.uint8))])
    item = AnomalyDataset(manifest, 10)[0]
    expected = np.zeros((10, 10), np.float32)
    expected[:, 2:5] = 1  # columns 10..19 of 40 squash to 2.5..5 of 10; bilinear keeps 2..4 above half
    np.testing.assert_array_equal(item["mask"][0].numpy(), expected)


def test_image_with_shortest_resize_is_upstream_open_clips_validation_transform(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50, 3), np.uint8)
    manifest = _manifest([_row(tmp_path, "alpha", 0, label=0, defect="good", mask=None, size=(50, 30),
                               pixels=pixels)])
    item = AnomalyDataset(manifest, 20, resize_mode="shortest")[0]
    resized = np.asarray(Image.fromarray(pixels).resize((33, 20), Image.Resampling.BICUBIC), np.float32) / 255
    cropped = resized[:, 6:26]
    expected = (cropped - np.array(OPENAI_DATASET_MEAN)) / np.array(OPENAI_DATASET_STD)
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 20, 20)
    np.testing.assert_allclose(item["image"].numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    assert item["label"] == 0 and item["defect_type"] == "good" and item["category"] == "alpha"
    assert item["image_id"] == "alpha/test/good/000.png" and item["image_path"] == manifest.at[0, "image_path"]
    assert item["has_mask"] and not item["mosaic"]
    assert torch.equal(item["mask"], torch.zeros(1, 20, 20))


def test_mask_is_binarized_at_half_scale_and_aligned_with_the_centre_crop(tmp_path: Path) -> None:
    mask = np.zeros((20, 40), np.uint8)
    mask[:, 10:20] = 1  # second quarter of a 40x20 image, VisA-style class id
    manifest = _manifest([_row(tmp_path, "alpha", 0, label=1, defect="crack", mask=mask, size=(40, 20),
                               pixels=np.zeros((20, 40, 3), np.uint8))])
    item = AnomalyDataset(manifest, 10, resize_mode="shortest")[0]
    # Shorter side 20 -> 10 makes the image 20x10; the centre crop keeps columns 5..14,
    # where the mask covers resized columns 5..9: the crop's first five columns.
    expected = np.zeros((10, 10), np.float32)
    expected[:, :5] = 1
    assert item["mask"].dtype == torch.float32 and item["mask"].shape == (1, 10, 10)
    np.testing.assert_array_equal(item["mask"][0].numpy(), expected)
    assert item["label"] == 1 and item["has_mask"]


def test_thin_mask_regions_below_half_coverage_are_dropped(tmp_path: Path) -> None:
    mask = np.zeros((TILE, TILE), np.uint8)
    mask[:, 0] = 255  # one column; a 2x bilinear reduction leaves it under half scale
    mask[:, 8:] = 255
    manifest = _manifest([_row(tmp_path, "alpha", 0, label=1, defect="crack", mask=mask,
                               pixels=np.zeros((TILE, TILE, 3), np.uint8))])
    resized = AnomalyDataset(manifest, TILE // 2)[0]["mask"][0].numpy()
    assert set(np.unique(resized)) == {0.0, 1.0}
    assert resized[:, 0].sum() == 0 and resized[:, 4:].all()


def test_anomalous_image_without_mask_file_has_zero_mask_and_no_ground_truth(tmp_path: Path) -> None:
    manifest = _manifest([_row(tmp_path, "alpha", 2, label=1, defect="crack", mask=None)])
    item = AnomalyDataset(manifest, 8)[0]
    assert item["label"] == 1 and not item["has_mask"] and item["mask"].sum() == 0


def _mosaic_tiles(item: dict) -> list[tuple[tuple[int, int, int], float]]:
    """(colour, mask value) at the centre of each quadrant of a mosaic item, in slot order."""
    std, mean = torch.tensor(OPENAI_DATASET_STD)[:, None, None], torch.tensor(OPENAI_DATASET_MEAN)[:, None, None]
    pixels = ((item["image"] * std + mean) * 255).round().to(torch.int64)
    quarter = TILE // 4
    centres = [(quarter, quarter), (quarter, 3 * quarter), (3 * quarter, quarter), (3 * quarter, 3 * quarter)]
    return [(tuple(pixels[:, r, c].tolist()), float(item["mask"][0, r, c])) for r, c in centres]


@pytest.mark.parametrize("category", ["alpha", "beta"])
def test_mosaic_tiles_come_from_the_same_category_with_their_masks(toy_manifest: pd.DataFrame,
                                                                   category: str) -> None:
    dataset = AnomalyDataset(toy_manifest, TILE, aug_rate=1.0, seed=5)
    anomalous_colors = {tuple(COLORS["alpha"][2]), tuple(COLORS["beta"][1])}
    for index in np.flatnonzero(dataset.rows["category"] == category):
        item = dataset[int(index)]
        assert item["mosaic"] and item["category"] == category
        for color, mask_value in _mosaic_tiles(item):
            assert color in {tuple(c) for c in COLORS[category]}, color
            assert mask_value == float(color in anomalous_colors)


def test_mosaic_label_follows_the_mosaic_masks(toy_manifest: pd.DataFrame) -> None:
    dataset = AnomalyDataset(toy_manifest, TILE, aug_rate=1.0, mosaic_label="mosaic", seed=1)
    labels = set()
    for epoch in range(12):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            item = dataset[index]
            assert item["label"] == int(item["mask"].any()) and item["defect_type"] == "mosaic"
            labels.add(item["label"])
    assert labels == {0, 1}


def test_authors_mosaic_label_keeps_the_indexed_label(toy_manifest: pd.DataFrame) -> None:
    dataset = AnomalyDataset(toy_manifest, TILE, aug_rate=1.0, mosaic_label="authors", seed=1)
    normal_with_anomalous_pixels = 0
    for epoch in range(12):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            item = dataset[index]
            assert item["label"] == toy_manifest.at[index, "label"]
            assert item["defect_type"] == toy_manifest.at[index, "defect_type"]
            normal_with_anomalous_pixels += item["label"] == 0 and bool(item["mask"].any())
    assert normal_with_anomalous_pixels > 0


def test_aug_rate_sets_the_share_of_mosaics(toy_manifest: pd.DataFrame) -> None:
    dataset = AnomalyDataset(toy_manifest, 8, aug_rate=0.3, seed=0)
    flags = []
    for epoch in range(40):
        dataset.set_epoch(epoch)
        flags += [dataset[index]["mosaic"] for index in range(len(dataset))]
    assert 0.2 < np.mean(flags) < 0.4
    assert not any(AnomalyDataset(toy_manifest, 8, aug_rate=0.0)[i]["mosaic"] for i in range(len(toy_manifest)))


def _epoch_items(dataset: AnomalyDataset, workers: int) -> list[dict]:
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers)
    return list(loader)


def test_items_depend_on_seed_epoch_and_index_only_not_on_workers(toy_manifest: pd.DataFrame) -> None:
    dataset = AnomalyDataset(toy_manifest, TILE, aug_rate=0.5, seed=7)
    dataset.set_epoch(3)
    serial, parallel = _epoch_items(dataset, 0), _epoch_items(dataset, 2)
    assert any(item["mosaic"] for item in serial)
    for one, other in zip(serial, parallel, strict=True):
        assert torch.equal(one["image"], other["image"]) and torch.equal(one["mask"], other["mask"])
        assert one["label"] == other["label"] and one["mosaic"] == other["mosaic"]
    draws = {}
    for epoch in range(6):
        dataset.set_epoch(epoch)
        draws[epoch] = [dataset[i]["image"] for i in range(len(dataset))]
    dataset.set_epoch(3)
    assert all(torch.equal(a, b) for a, b in zip(draws[3], [dataset[i]["image"] for i in range(len(dataset))],
                                                   strict=True))
    assert any(not torch.equal(a, b) for epoch in range(6) if epoch != 3
               for a, b in zip(draws[3], draws[epoch], strict=True))


def test_split_filter_and_argument_errors(toy_manifest: pd.DataFrame) -> None:
    with pytest.raises(FiloError, match="no 'train' images"):
        AnomalyDataset(toy_manifest, 8, split="train")
    with pytest.raises(FiloError, match=r"aug_rate must lie in \[0, 1\], got 1.5"):
        AnomalyDataset(toy_manifest, 8, aug_rate=1.5)
    with pytest.raises(FiloError, match="mosaic_label must be one of"):
        AnomalyDataset(toy_manifest, 8, mosaic_label="paper")
    assert len(AnomalyDataset(toy_manifest, 8)) == 5


def _many_rows(counts: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "toy", "category": category, "image_id": f"{category}/{n}"}
                         for category, count in counts.items() for n in range(count)])


def test_category_batches_are_pure_complete_and_reproducible() -> None:
    rows = _many_rows({"alpha": 7, "beta": 3, "gamma": 5}).sample(frac=1.0, random_state=0)
    batches = category_batches(rows, 3, seed=1, epoch=0)
    categories = rows["category"].to_numpy()
    assert all(len({categories[i] for i in batch}) == 1 and 1 <= len(batch) <= 3 for batch in batches)
    assert sorted(i for batch in batches for i in batch) == list(range(len(rows)))
    assert len(batches) == 3 + 1 + 2
    assert category_batches(rows, 3, seed=1, epoch=0) == batches
    assert category_batches(rows, 3, seed=1, epoch=1) != batches


def test_category_batches_without_shuffle_keep_the_order() -> None:
    rows = _many_rows({"beta": 3, "alpha": 2})
    assert category_batches(rows, 2, seed=0, epoch=0, shuffle=False) == [[0, 1], [2], [3, 4]]
    with pytest.raises(FiloError, match="batch_size must be at least 1"):
        category_batches(rows, 0, seed=0, epoch=0)


def test_synthetic_dataset_items_carry_their_exact_masks(tmp_path: Path) -> None:
    from filo.data.index import index_dataset
    from filo.data.synthetic import generate_dataset

    root = generate_dataset("visa", tmp_path / "visa", seed=0, categories=["capsule_blob"], image_size=32,
                            n_train_good=1, n_test_good=1, n_test_per_defect=1)
    manifest = index_dataset(root, tmp_path / "visa.parquet", dataset="synth_visa").manifest
    dataset = AnomalyDataset(manifest, 32)
    for index in range(len(dataset)):
        item, row = dataset[index], dataset.rows.iloc[index]
        if row["label"] == 1:
            expected = np.asarray(Image.open(row["mask_path"])) > 0
            np.testing.assert_array_equal(item["mask"][0].numpy(), expected.astype(np.float32))
            assert expected.any()
        else:
            assert item["mask"].sum() == 0
