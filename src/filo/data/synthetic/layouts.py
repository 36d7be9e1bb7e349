"""Write synthetic datasets in the real on-disk layouts of MVTec AD and VisA.

MVTec AD::

    <out>/<cat>/train/good/000.png
    <out>/<cat>/test/{good,<defect>}/000.png
    <out>/<cat>/ground_truth/<defect>/000_mask.png          (0 / 255)

VisA (images are PNG here, not JPEG, so masks stay pixel-exact)::

    <out>/<cat>/Data/Images/Normal/0000.png
    <out>/<cat>/Data/Images/Anomaly/000.png
    <out>/<cat>/Data/Masks/Anomaly/000.png                  (0 / class id 1..n)
    <out>/<cat>/image_anno.csv                              (image,label,mask; label = defect type)
    <out>/split_csv/1cls.csv                                (object,split,label,image,mask)

Folder (one category, every image a test image: "your product", see filo.data.index_folder)::

    <out>/good/000.png
    <out>/<defect>/000.png
    <out>/ground_truth/<defect>/000_mask.png                (0 / 255)

In VisA the mask's class id is the 1-based position of the defect type in the
category's defect list. Every image gets its own random stream derived from
(seed, category, role, index), so files are byte-identical for the same
arguments and one image does not change when other counts change.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from tqdm import tqdm

from filo.data.synthetic.categories import (
    DEFAULT_CATEGORIES,
    SyntheticCategory,
    resolve_categories,
    synthesize,
)
from filo.errors import FiloError
from filo.io import atomic_path

Layout = Literal["mvtec", "visa", "folder"]
_VISA_CSV_COLUMNS = ("object", "split", "label", "image", "mask")
_MIN_IMAGE_SIZE = 32


@dataclass(frozen=True)
class PlannedImage:
    """One image to render: its category, split, defect type (None = normal) and number within its role."""

    category: SyntheticCategory
    split: Literal["train", "test"]
    defect_type: str | None
    index: int

    @property
    def role(self) -> str:
        """The image's group ("train_good", "test_good", "test_<defect>"), which seeds its random stream."""
        return f"{self.split}_{self.defect_type or 'good'}"


def _stable_id(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _plan(category: SyntheticCategory, n_train_good: int, n_test_good: int, n_test_per_defect: int
          ) -> list[PlannedImage]:
    plan = [PlannedImage(category, "train", None, i) for i in range(n_train_good)]
    plan += [PlannedImage(category, "test", None, i) for i in range(n_test_good)]
    for defect_type in category.defect_types:
        plan += [PlannedImage(category, "test", defect_type, i) for i in range(n_test_per_defect)]
    return plan


def _render(planned: PlannedImage, *, seed: int, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(
        [seed, _stable_id(planned.category.name), _stable_id(planned.role), planned.index]
    )
    sample = synthesize(planned.category, planned.defect_type, image_size, rng)
    return sample.image, sample.mask


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _write_mvtec(plan: list[PlannedImage], root: Path, *, seed: int, image_size: int,
                 progress: tqdm) -> None:
    for planned in plan:
        image, mask = _render(planned, seed=seed, image_size=image_size)
        folder = root / planned.category.name
        stem = f"{planned.index:03d}"
        group = "good" if planned.defect_type is None else planned.defect_type
        _save_png(image, folder / planned.split / group / f"{stem}.png")
        if planned.defect_type is not None:
            _save_png(mask.astype(np.uint8) * 255, folder / "ground_truth" / group / f"{stem}_mask.png")
        progress.update()


def _write_folder(plan: list[PlannedImage], root: Path, *, seed: int, image_size: int, progress: tqdm) -> None:
    for planned in plan:
        if planned.split == "train":
            continue
        image, mask = _render(planned, seed=seed, image_size=image_size)
        stem = f"{planned.index:03d}"
        group = "good" if planned.defect_type is None else planned.defect_type
        _save_png(image, root / group / f"{stem}.png")
        if planned.defect_type is not None:
            _save_png(mask.astype(np.uint8) * 255, root / "ground_truth" / group / f"{stem}_mask.png")
        progress.update()


def _csv_text(header: Sequence[str], rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write_visa(plan: list[PlannedImage], root: Path, *, seed: int, image_size: int,
                progress: tqdm) -> list[tuple[str, ...]]:
    """Write one category's images, masks and image_anno.csv; return its rows of 1cls.csv."""
    category = plan[0].category
    data = Path(category.name) / "Data"
    split_rows, anno_rows = [], []
    normal_count = anomaly_count = 0
    for planned in plan:
        image, mask = _render(planned, seed=seed, image_size=image_size)
        if planned.defect_type is None:
            image_rel, mask_rel = (data / "Images" / "Normal" / f"{normal_count:04d}.png").as_posix(), ""
            normal_count += 1
        else:
            image_rel = (data / "Images" / "Anomaly" / f"{anomaly_count:03d}.png").as_posix()
            mask_rel = (data / "Masks" / "Anomaly" / f"{anomaly_count:03d}.png").as_posix()
            class_id = category.defect_types.index(planned.defect_type) + 1
            _save_png(mask.astype(np.uint8) * class_id, root / mask_rel)
            anomaly_count += 1
        _save_png(image, root / image_rel)
        label = "normal" if planned.defect_type is None else "anomaly"
        split_rows.append((category.name, planned.split, label, image_rel, mask_rel))
        anno_rows.append((image_rel, planned.defect_type or "normal", mask_rel))
        progress.update()
    (root / category.name / "image_anno.csv").write_text(_csv_text(("image", "label", "mask"), anno_rows))
    return split_rows


def _check_arguments(layout: str, out_dir: Path, image_size: int, counts: dict[str, int],
                     overwrite: bool) -> None:
    if layout not in (*DEFAULT_CATEGORIES, "folder"):
        raise FiloError(f"unknown dataset layout {layout!r}; use one of {[*DEFAULT_CATEGORIES, 'folder']}")
    if image_size < _MIN_IMAGE_SIZE:
        raise FiloError(f"image_size {image_size} is too small; use at least {_MIN_IMAGE_SIZE} pixels")
    for name, value in counts.items():
        if value < 1:
            raise FiloError(f"{name} must be at least 1, got {value}")
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FiloError(
            f"{out_dir} already exists and is not empty; choose another output folder "
            "or allow overwriting it (overwrite=True / --force)"
        )


def generate_dataset(
    layout: Layout,
    out_dir: str | os.PathLike,
    *,
    seed: int,
    categories: Sequence[str] | None = None,
    image_size: int = 128,
    n_train_good: int = 10,
    n_test_good: int = 10,
    n_test_per_defect: int = 6,
    overwrite: bool = False,
) -> Path:
    """Generate a procedural anomaly dataset at `out_dir` in the real MVTec AD or VisA layout, or the folder layout.

    `categories` defaults to the demo profile's set for the layout (see
    `DEFAULT_CATEGORIES`). Each category gets `n_train_good` normal training images,
    `n_test_good` normal test images and `n_test_per_defect` test images per defect
    type it shows (the folder layout: one category, test images only). The output is byte-identical for the same arguments, and appears
    atomically: a crash leaves no partial dataset at `out_dir`. An existing non-empty
    `out_dir` is replaced only when `overwrite` is true. Returns `out_dir`.
    """
    out = Path(out_dir)
    counts = {"n_train_good": n_train_good, "n_test_good": n_test_good, "n_test_per_defect": n_test_per_defect}
    _check_arguments(layout, out, image_size, counts, overwrite)
    if layout == "folder" and (categories is None or len(categories) != 1):
        raise FiloError(f"a folder-layout dataset shows one category; name the one to draw, got {categories!r}")
    chosen = resolve_categories(list(categories) if categories is not None else DEFAULT_CATEGORIES[layout])
    plans = [_plan(category, n_train_good, n_test_good, n_test_per_defect) for category in chosen]
    with atomic_path(out) as tmp, tqdm(
        total=sum(map(len, plans)), desc=f"synthesizing {layout} dataset", unit="img", disable=None
    ) as progress:
        tmp.mkdir()
        if layout == "folder":
            _write_folder(plans[0], tmp, seed=seed, image_size=image_size, progress=progress)
        elif layout == "mvtec":
            for plan in plans:
                _write_mvtec(plan, tmp, seed=seed, image_size=image_size, progress=progress)
        else:
            split_rows = [row for plan in plans for row in
                          _write_visa(plan, tmp, seed=seed, image_size=image_size, progress=progress)]
            (tmp / "split_csv").mkdir()
            (tmp / "split_csv" / "1cls.csv").write_text(_csv_text(_VISA_CSV_COLUMNS, split_rows))
    return out

