"""Which files `filo predict` reads: image paths given directly, and the images inside folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from filo.errors import FiloError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""File suffixes (lowercase) taken from folders; files named directly are read whatever their suffix."""


def collect_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The image files to predict: each folder searched recursively, every other path kept as given.

    Folder contents are sorted and filtered by `IMAGE_SUFFIXES` (hidden files skipped). A path
    that does not exist is kept, so that the predictor reports it as a per-image error and
    still scores the other inputs. Raises FiloError for a folder without images, or no paths.
    """
    images: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.is_file()
                and candidate.suffix.lower() in IMAGE_SUFFIXES
                and not candidate.name.startswith(".")
            )
            if not found:
                others = sum(1 for candidate in path.rglob("*") if candidate.is_file())
                held = f"it holds {others} other file(s)" if others else "it is empty"
                raise FiloError(
                    f"folder {path} contains no images ({held}; looked for {', '.join(IMAGE_SUFFIXES)} recursively)"
                )
            images.extend(found)
        else:
            images.append(path)
    if not images:
        raise FiloError("no images given; pass at least one image file or folder")
    return images
