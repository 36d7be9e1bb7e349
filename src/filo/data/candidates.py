"""What a layout reader hands to the indexer: images found on disk, and files it had to reject."""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Candidate:
    """One image found in a dataset tree, before its files are checked.

    Paths are relative to the dataset root with POSIX separators. `mask_id` is None when
    the dataset has no mask for the image; `mask_expected` says whether that is a problem
    (an anomalous image in a part of the dataset that does come with masks).
    """

    image_id: str
    category: str
    split: str
    label: int
    defect_type: str
    mask_id: str | None
    mask_expected: bool = False


@dataclass(frozen=True)
class Reject:
    """A file that cannot go into the manifest, with the reason (a row of the rejects Parquet)."""

    image_path: str | None
    mask_path: str | None
    reason: str


def is_image_file(name: str) -> bool:
    """Whether a file name has one of the image suffixes the indexer accepts."""
    return name.lower().endswith(IMAGE_SUFFIXES)
