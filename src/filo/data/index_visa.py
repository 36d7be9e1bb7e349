"""Finding the images and masks of a dataset in the VisA layout.

Layout: `<root>/<category>/Data/Images/{Normal,Anomaly}/*`, `<root>/<category>/Data/Masks/Anomaly/*`
and the split file `<root>/split_csv/1cls.csv` with the columns `object, split, label, image,
mask` (read by name; label is "normal" or "anomaly"; paths relative to the root). The category
is the `object` value. Defect types come from the optional per-category `image_anno.csv`
(columns `image, label`) that VisA ships; without it an anomalous image's type is "anomaly".
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from filo.data.candidates import Candidate, Reject
from filo.errors import FiloError

SPLIT_FILE = Path("split_csv") / "1cls.csv"
SPLIT_COLUMNS = ("object", "split", "label", "image", "mask")
ANNOTATION_FILE = "image_anno.csv"
LABELS = {"normal": 0, "anomaly": 1}
UNNAMED_DEFECT = "anomaly"


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts of stripped strings; the required columns must be present."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise FiloError(f"cannot read {path} ({error}); restore it from the dataset archive") from error
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise FiloError(f"{path} lacks the column(s) {missing} (found {list(frame.columns)}); restore it")
    return [
        {key: value.strip() for key, value in row.items()} for row in frame[list(required)].to_dict("records")
    ]


def _escapes_root(relative: str) -> bool:
    """Whether a path from a CSV file would point outside the dataset root."""
    path = PurePosixPath(relative)
    return path.is_absolute() or ".." in path.parts


def _defect_types(root: Path, category: str) -> dict[str, str]:
    """image path -> defect type from the category's image_anno.csv, or empty when it has none."""
    path = root / category / ANNOTATION_FILE
    if not path.is_file():
        return {}
    rows = _read_csv(path, ("image", "label"))
    return {row["image"]: row["label"] for row in rows if row["label"].lower() not in ("", "normal", "good")}


def _row_problem(row: dict[str, str], seen: set[str]) -> str | None:
    """Why a split-file row cannot be indexed, or None."""
    if row["label"].lower() not in LABELS:
        return f"label {row['label']!r} in {SPLIT_FILE} is neither 'normal' nor 'anomaly'"
    if row["split"] not in ("train", "test"):
        return f"split {row['split']!r} in {SPLIT_FILE} is neither 'train' nor 'test'"
    if not row["image"] or not row["object"]:
        return f"row of {SPLIT_FILE} without an image path or object"
    if _escapes_root(row["image"]) or (row["mask"] and _escapes_root(row["mask"])):
        return f"path in {SPLIT_FILE} points outside the dataset root"
    if row["image"] in seen:
        return f"image listed twice in {SPLIT_FILE}"
    if LABELS[row["label"].lower()] == 0 and row["mask"]:
        return f"normal image with a mask in {SPLIT_FILE}"
    return None


def list_visa(root: Path) -> tuple[list[Candidate], list[Reject]]:
    """All images listed in the VisA split file and the rows that cannot be indexed."""
    split_file = root / SPLIT_FILE
    if not split_file.is_file():
        raise FiloError(f"{split_file} not found: a VisA-layout root must hold split_csv/1cls.csv")
    candidates, rejects, seen = [], [], set()
    defect_types: dict[str, dict[str, str]] = {}
    for row in _read_csv(split_file, SPLIT_COLUMNS):
        problem = _row_problem(row, seen)
        if problem:
            mask_path = (root / row["mask"]).as_posix() if row["mask"] else None
            rejects.append(Reject((root / row["image"]).as_posix(), mask_path, problem))
            continue
        seen.add(row["image"])
        category = row["object"]
        label = LABELS[row["label"].lower()]
        if category not in defect_types:
            defect_types[category] = _defect_types(root, category)
        defect_type = defect_types[category].get(row["image"], UNNAMED_DEFECT) if label else "good"
        candidates.append(
            Candidate(
                image_id=PurePosixPath(row["image"]).as_posix(),
                category=category,
                split=row["split"],
                label=label,
                defect_type=defect_type,
                mask_id=row["mask"] or None,
                mask_expected=bool(label),
            )
        )
    return candidates, rejects
