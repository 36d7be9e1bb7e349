"""The dataset stages of the pipeline: get a dataset onto disk (`prepare_dataset`), index it (`index_manifest`).

Both profiles run the same stages: the demo generates its datasets (`source: synthetic`),
the paper profile downloads MVTec AD and VisA (`source: download`). The settings live in
the `data:` and `index:` sections of params.yaml.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from filo.errors import FiloError

logger = logging.getLogger(__name__)

Layout = Literal["mvtec", "visa"]
LAYOUTS: tuple[str, ...] = ("mvtec", "visa")


@dataclass(frozen=True)
class DataSettings:
    """Where the pipeline's two datasets come from (params section `data`)."""

    SECTION: ClassVar[str] = "data"

    source: Literal["synthetic", "download"] = "download"
    """'synthetic': generate procedural datasets in the real layouts; 'download': MVTec AD and VisA."""
    seed: int = 0
    """Synthetic only: the generator's seed (same seed, same bytes)."""
    image_size: int = 128
    """Synthetic only: image side in pixels."""
    n_train_good: int = 10
    """Synthetic only: normal training images per category."""
    n_test_good: int = 10
    """Synthetic only: normal test images per category."""
    n_test_per_defect: int = 6
    """Synthetic only: test images per defect type."""
    urls: dict[str, str] = field(default_factory=dict)
    """Download only: layout -> URL replacing the official one (same archive), e.g. a mirror."""
    sha256: dict[str, str] = field(default_factory=dict)
    """Download only: layout -> expected archive SHA-256 replacing the official one (a stand-in archive)."""
    archives: dict[str, str] = field(default_factory=dict)
    """Download only: layout -> an archive you already have (verified, hard-linked or read in place, never changed)."""

    def __post_init__(self) -> None:
        for name, mapping in (("urls", self.urls), ("sha256", self.sha256), ("archives", self.archives)):
            unknown = sorted(set(mapping) - set(LAYOUTS))
            if unknown:
                raise FiloError(f"data.{name} has unknown layout(s) {unknown}; use {list(LAYOUTS)}")

    def dataset_name(self, layout: str) -> str:
        """The dataset name written into manifests: "synth_mvtec" for a generated set, "mvtec" for the real one."""
        return f"synth_{layout}" if self.source == "synthetic" else layout


@dataclass(frozen=True)
class IndexSettings:
    """How a dataset tree is indexed into a manifest (params section `index`)."""

    SECTION: ClassVar[str] = "index"

    skip_bad: bool = False
    """Index the good files and list the bad ones in <manifest stem>.rejects.parquet instead of failing."""
    full_decode: bool = False
    """Decode every image (slower) instead of checking PNG/JPEG end markers."""


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise FiloError(f"unknown dataset layout {layout!r}; use one of {list(LAYOUTS)}")


def prepare_dataset(layout: str, out: str | os.PathLike, settings: DataSettings = DataSettings()) -> Path:
    """Generate (synthetic) or download and extract (download) the dataset of `layout` into folder `out`.

    A download keeps its archive beside `out` (in `out`'s parent folder) so an interrupted
    transfer resumes; the extracted dataset is `out`, whose name must be the layout's.
    """
    _check_layout(layout)
    out = Path(out)
    if settings.source == "synthetic":
        from filo.data.synthetic import generate_dataset

        path = generate_dataset(
            layout, out, seed=settings.seed, image_size=settings.image_size, n_train_good=settings.n_train_good,
            n_test_good=settings.n_test_good, n_test_per_defect=settings.n_test_per_defect, overwrite=True,
        )
        logger.info("synthetic %s dataset written to %s", layout, path)
        return path
    from filo.data.download import download_dataset

    if out.name != layout:
        raise FiloError(f"a downloaded {layout} dataset is extracted to <root>/{layout}; got the folder {out}")
    return download_dataset(layout, out.parent, url=settings.urls.get(layout), sha256=settings.sha256.get(layout),
                            archive=settings.archives.get(layout))


def index_manifest(
    dataset_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: str | None = None,
    dataset: str | None = None,
    data: DataSettings | None = None,
    settings: IndexSettings = IndexSettings(),
):
    """Index the dataset at `dataset_dir` (layout detected when None) into the manifest `out`.

    The manifest's dataset name is `dataset`, else the one `data` gives the layout (the
    pipeline's way: "synth_mvtec" for a generated set). Returns the `IndexResult`.
    """
    from filo.data.index import detect_layout, index_dataset

    layout = layout or detect_layout(dataset_dir)
    _check_layout(layout)
    if dataset is None:
        if data is None:
            raise FiloError("name the dataset (--dataset NAME) or give the pipeline's `data` settings (--params)")
        dataset = data.dataset_name(layout)
    return index_dataset(dataset_dir, out, dataset=dataset, layout=layout,
                         skip_bad=settings.skip_bad, full_decode=settings.full_decode)
