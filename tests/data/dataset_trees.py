"""Tiny dataset trees in the MVTec AD and VisA layouts, built file by file so tests control every defect."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SIZE = (24, 16)  # width, height


def save_image(path: Path, size: tuple[int, int] = IMAGE_SIZE, seed: int = 0) -> Path:
    """A small noisy RGB image at `path` (PNG or JPEG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), np.uint8)).save(path)
    return path


def save_mask(path: Path, size: tuple[int, int] = IMAGE_SIZE, value: int = 255) -> Path:
    """A mask at `path` with a small square of `value` (0 gives an empty mask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    pixels = np.zeros((height, width), np.uint8)
    pixels[2:6, 3:8] = value
    Image.fromarray(pixels).save(path)
    return path


def build_mvtec_tree(root: Path, *, categories: tuple[str, ...] = ("bolt",), with_masks: bool = True) -> Path:
    """An MVTec AD tree: 2 train/good, 1 test/good, 2 test/crack (+ masks), 1 test/hole (+ mask) per category."""
    for index, category in enumerate(categories):
        base = root / category
        save_image(base / "train/good/000.png", seed=index)
        save_image(base / "train/good/001.png", seed=index + 1)
        save_image(base / "test/good/000.png", seed=index + 2)
        for defect, stems in (("crack", ("000", "001")), ("hole", ("000",))):
            for stem in stems:
                save_image(base / f"test/{defect}/{stem}.png", seed=index + 3)
                if with_masks:
                    save_mask(base / f"ground_truth/{defect}/{stem}_mask.png")
    return root


def build_visa_tree(root: Path, *, anno: bool = True, mask_value: int = 1) -> Path:
    """A VisA tree with one category 'pcb1': 2 train normal, 1 test normal, 2 test anomalies with class-id masks."""
    rows = []
    for split, stem in (("train", "0000"), ("train", "0001"), ("test", "0002")):
        image = f"pcb1/Data/Images/Normal/{stem}.JPG"
        save_image(root / image)
        rows.append(("pcb1", split, "normal", image, ""))
    annotations = []
    for stem, defect in (("000", "bent"), ("001", "scratch")):
        image, mask = f"pcb1/Data/Images/Anomaly/{stem}.JPG", f"pcb1/Data/Masks/Anomaly/{stem}.png"
        save_image(root / image)
        save_mask(root / mask, value=mask_value)
        rows.append(("pcb1", "test", "anomaly", image, mask))
        annotations.append((image, defect, mask))
    write_csv(root / "split_csv/1cls.csv", ("object", "split", "label", "image", "mask"), rows)
    if anno:
        write_csv(root / "pcb1/image_anno.csv", ("image", "label", "mask"), annotations)
    return root


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A CSV file with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
