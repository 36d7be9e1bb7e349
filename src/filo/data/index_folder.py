"""Finding the images and masks of a dataset in the folder layout: your own product, as you keep its images.

Layout (one category per folder)::

    <root>/*.png  or  <root>/good/*.png            normal images
    <root>/<defect>/*.png                          optional: anomalous images of one defect type each
    <root>/ground_truth/<defect>/<stem>_mask.png   optional: their masks (paired by stem, as in MVTec AD)

Every image is a test image (the folder is evaluated zero-shot or used to calibrate a
threshold, never trained on). A defect folder without masks gives image labels only; a
folder of good images only is enough to calibrate a threshold. Files that are not images,
masks without an image, and (where a defect has a mask folder) images without a mask are
rejected with the reason.
"""

from __future__ import annotations

from pathlib import Path

from filo.data.candidates import Candidate, Reject, is_image_file
from filo.data.index_mvtec import MASK_SUFFIX, NORMAL
from filo.errors import FiloError

MASKS_DIR = "ground_truth"


def _visible(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))


def list_folder(root: Path, category: str | None = None) -> tuple[list[Candidate], list[Reject]]:
    """All images of a folder-layout tree (category: `category`, else the folder's name) and the files that do not fit."""
    if not root.is_dir():
        raise FiloError(f"dataset folder {root} is not a directory; pass the folder that holds your images")
    category = category or root.resolve().name
    candidates: list[Candidate] = []
    rejects: list[Reject] = []
    used_masks: set[Path] = set()

    def add_images(folder: Path, defect: str) -> None:
        anomalous = defect != NORMAL
        masks_dir = root / MASKS_DIR / defect
        has_masks = anomalous and masks_dir.is_dir()
        for entry in _visible(folder):
            if entry.is_dir():
                if folder != root:
                    rejects.append(Reject(entry.as_posix(), None, "folder inside a defect folder (one level only)"))
                continue
            if not is_image_file(entry.name):
                rejects.append(Reject(entry.as_posix(), None, "not an image file (unknown suffix)"))
                continue
            mask = masks_dir / f"{entry.stem}{MASK_SUFFIX}" if has_masks else None
            if mask is not None:
                used_masks.add(mask)
            candidates.append(Candidate(
                image_id=entry.relative_to(root).as_posix(), category=category, split="test",
                label=int(anomalous), defect_type=defect,
                mask_id=mask.relative_to(root).as_posix() if mask is not None else None, mask_expected=has_masks))

    add_images(root, NORMAL)
    for entry in _visible(root):
        if entry.is_dir() and entry.name != MASKS_DIR:
            add_images(entry, entry.name)
    masks_root = root / MASKS_DIR
    if masks_root.is_dir():
        rejects += [Reject(None, mask.as_posix(), f"mask without an image: no {mask.parent.name}/<stem>.* matches it "
                           f"(masks pair by stem as <stem>{MASK_SUFFIX})")
                    for mask in sorted(masks_root.rglob("*"))
                    if mask.is_file() and not mask.name.startswith(".") and mask not in used_masks]
    return candidates, rejects
