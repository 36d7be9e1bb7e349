"""Finding the images and masks of a dataset in the MVTec AD layout.

Layout: `<root>/<category>/train/good/*`, `<root>/<category>/test/<defect>/*` and
`<root>/<category>/ground_truth/<defect>/<stem>_mask.png`. Masks pair with test images
by file stem, never by sorted position. A defect folder without a `ground_truth/<defect>`
folder (or a tree without `ground_truth/` at all, as for users' own products) has no
masks: its images are indexed with a null mask path. Where a mask folder exists, a test
image without its mask and a mask without its image are both reported.
"""

from __future__ import annotations

from pathlib import Path

from filo.data.candidates import Candidate, Reject, is_image_file
from filo.errors import FiloError

SPLITS = ("train", "test")
NORMAL = "good"
MASK_SUFFIX = "_mask.png"


def _visible_entries(folder: Path) -> list[Path]:
    """The entries of a folder in name order, without hidden files such as .DS_Store."""
    return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))


def find_mvtec_categories(root: Path) -> list[Path]:
    """Category folders under an MVTec-layout root: those holding a train/ or test/ folder."""
    if not root.is_dir():
        raise FiloError(
            f"dataset root {root} is not a directory; pass the folder that holds the category folders"
        )
    categories = [
        entry
        for entry in _visible_entries(root)
        if entry.is_dir() and ((entry / "train").is_dir() or (entry / "test").is_dir())
    ]
    if not categories:
        raise FiloError(
            f"no category folders (with train/ or test/ inside) under {root}; pass the folder that directly "
            "holds the categories, e.g. <root>/bottle/train/good"
        )
    return categories


def _list_defect_folder(
    root: Path, category: str, split: str, defect_dir: Path, used_masks: set[Path]
) -> tuple[list[Candidate], list[Reject]]:
    """Candidates for the images of one `<split>/<defect>` folder, paired with their masks by stem."""
    defect = defect_dir.name
    anomalous = defect != NORMAL
    if split == "train" and anomalous:
        raise FiloError(
            f"{defect_dir}: the MVTec AD layout keeps only normal images under train/ (found {defect!r}); "
            f"move them to {category}/test/{defect}"
        )
    masks_dir = root / category / "ground_truth" / defect
    has_masks = anomalous and masks_dir.is_dir()
    candidates, rejects = [], []
    for entry in _visible_entries(defect_dir):
        if not (entry.is_file() and is_image_file(entry.name)):
            rejects.append(Reject(entry.as_posix(), None, "not an image file (unknown suffix or not a file)"))
            continue
        mask_file = masks_dir / f"{entry.stem}{MASK_SUFFIX}" if has_masks else None
        if mask_file is not None:
            used_masks.add(mask_file)
        candidates.append(
            Candidate(
                image_id=entry.relative_to(root).as_posix(),
                category=category,
                split=split,
                label=int(anomalous),
                defect_type=defect,
                mask_id=mask_file.relative_to(root).as_posix() if mask_file is not None else None,
                mask_expected=has_masks,
            )
        )
    return candidates, rejects


def _unpaired_masks(category_dir: Path, used_masks: set[Path]) -> list[Reject]:
    """Mask files under `ground_truth/` that no test image claims."""
    ground_truth = category_dir / "ground_truth"
    if not ground_truth.is_dir():
        return []
    return [
        Reject(
            None,
            mask.as_posix(),
            f"mask without an image: no {category_dir.name}/test/{mask.parent.name}/"
            f"<stem>.* matches it (masks pair by stem as <stem>{MASK_SUFFIX})",
        )
        for mask in sorted(ground_truth.rglob("*"))
        if mask.is_file() and not mask.name.startswith(".") and mask not in used_masks
    ]


def list_mvtec(root: Path) -> tuple[list[Candidate], list[Reject]]:
    """All images of an MVTec-layout tree (with their expected masks) and the files that do not fit it."""
    candidates, rejects = [], []
    for category_dir in find_mvtec_categories(root):
        used_masks: set[Path] = set()
        for split in SPLITS:
            split_dir = category_dir / split
            if not split_dir.is_dir():
                continue
            for entry in _visible_entries(split_dir):
                if not entry.is_dir():
                    rejects.append(
                        Reject(entry.as_posix(), None, f"file outside a defect folder of {split}/")
                    )
                    continue
                found, bad = _list_defect_folder(root, category_dir.name, split, entry, used_masks)
                candidates += found
                rejects += bad
        rejects += _unpaired_masks(category_dir, used_masks)
    return candidates, rejects
