"""The dataset stages of the pipeline: get a dataset onto disk (`prepare_dataset`), index it (`index_manifest`).

Which datasets there are, their names, layouts and sources, is the registry of the
profile's params (`filo.data.registry`, sections `datasets:` and `targets:`); the demo
generates its datasets (`source: synthetic`, sizes in section `data`), the paper profile
downloads MVTec AD and VisA (`source: download`), a local folder is indexed in place.
Indexing settings live in section `index`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from filo.data.registry import DatasetSpec
from filo.errors import FiloError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSettings:
    """How the pipeline generates its synthetic datasets (params section `data`; which datasets: `datasets:`)."""

    SECTION: ClassVar[str] = "data"

    seed: int = 0
    """The generator's seed (same seed, same bytes; a dataset's `seed_offset` is added)."""
    image_size: int = 128
    """Image side in pixels."""
    n_train_good: int = 10
    """Normal training images per category."""
    n_test_good: int = 10
    """Normal test images per category."""
    n_test_per_defect: int = 6
    """Test images per defect type."""


@dataclass(frozen=True)
class IndexSettings:
    """How a dataset tree is indexed into a manifest (params section `index`)."""

    SECTION: ClassVar[str] = "index"

    skip_bad: bool = False
    """Index the good files and list the bad ones in <manifest stem>.rejects.parquet instead of failing."""
    full_decode: bool = False
    """Decode every image (slower) instead of checking PNG/JPEG end markers."""


def download_location(spec: DatasetSpec) -> tuple[str, str, str]:
    """(url, sha256, archive file name) of a downloaded dataset: its entry's, else the official ones of its layout."""
    from filo.data.sources import SOURCES

    official = SOURCES.get(spec.layout)
    if official is None and not (spec.url and spec.sha256):
        raise FiloError(f"a downloaded {spec.layout}-layout dataset needs its `url` and `sha256` in `datasets:`")
    url = spec.url or official.url
    sha256 = (spec.sha256 or official.sha256).lower()
    archive_name = official.archive_name if official and url == official.url else url.rstrip("/").rsplit("/", 1)[-1]
    return url, sha256, archive_name


def prepare_dataset(spec: DatasetSpec, out: str | os.PathLike, settings: DataSettings = DataSettings()) -> Path:
    """Generate (synthetic) or download and extract (download) the dataset `spec` into folder `out`.

    A download keeps its archive beside `out` (in `out`'s parent folder) so an interrupted
    transfer resumes. A local dataset has no such stage: it is indexed where it is.
    """
    out = Path(out)
    if spec.source == "local":
        raise FiloError(f"a local dataset is indexed in place ({spec.path}); it has no prepare stage")
    if spec.source == "synthetic":
        from filo.data.synthetic import generate_dataset

        path = generate_dataset(
            spec.layout, out, seed=settings.seed + spec.seed_offset,
            categories=(spec.renderer,) if spec.layout == "folder" else spec.categories,
            image_size=settings.image_size, n_train_good=settings.n_train_good, n_test_good=settings.n_test_good,
            n_test_per_defect=settings.n_test_per_defect, overwrite=True,
        )
        logger.info("synthetic %s-layout dataset written to %s", spec.layout, path)
        return path
    from filo.data.download import fetch_dataset

    url, sha256, archive_name = download_location(spec)
    return fetch_dataset(out, url, sha256, archive_name=archive_name, archive=spec.archive)


def index_manifest(
    dataset_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dataset: str,
    layout: str | None = None,
    categories: tuple[str, ...] | None = None,
    settings: IndexSettings = IndexSettings(),
):
    """Index the dataset at `dataset_dir` (layout detected when None) into the manifest `out`, named `dataset`.

    `categories` keeps only those categories (a folder-layout dataset: names its one category).
    Returns the `IndexResult`.
    """
    from filo.data.index import index_dataset

    return index_dataset(dataset_dir, out, dataset=dataset, layout=layout, categories=categories,
                         skip_bad=settings.skip_bad, full_decode=settings.full_decode)
