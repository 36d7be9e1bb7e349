"""The dataset stages of the pipeline: get a dataset onto disk (`prepare_dataset`), index it (`index_manifest`).

Which datasets there are, their names, layouts and sources, is the registry of the
profile's params (`filo.data.registry`, sections `datasets:` and `targets:`); the demo
generates its datasets (`source: synthetic`, sizes in section `data`), the paper profile
downloads MVTec AD and VisA (`source: download`), a local folder is indexed in place.
Indexing settings live in section `index`. `PREPARE` and `INDEX` declare the two stages
(`filo.stagespec`): their commands, DAG stages and run records.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from filo.data.registry import LAYOUTS, DatasetSpec
from filo.errors import FiloError
from filo.stagespec import StageSpec, option, path_in, path_out

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


def prepare_registered(*, dataset: str, out: Path, settings: DataSettings, params_file: Path | None) -> Path:
    """Generate or download the dataset registered as `dataset` in `params_file` into `out` (`filo data prepare`)."""
    from filo.data.registry import load_registry

    spec = load_registry(params_file)[dataset]
    path = prepare_dataset(spec, out, settings)
    print(f"dataset {dataset} ({spec.layout} layout) ready at {path}")
    return path


PREPARE = StageSpec(
    ("data", "prepare"), prepare_registered, DataSettings,
    (option("dataset", "the dataset's key in `datasets:` of --params", required=True, metavar="KEY"),
     path_out("out", "dataset folder to write", required=True)),
    params_file=True,
    help="the pipeline's dataset stage: generate (synthetic) or download one dataset",
    description="Make the dataset --dataset of the params' `datasets:` registry at --out: generated in its "
    "layout (source synthetic; sizes: params section `data`) or downloaded, verified and extracted "
    "(source download).",
)
"""`filo data prepare`: one registered dataset onto disk."""


def index_tree(*, dataset: str | None, root: Path, out: Path, layout: str | None, name: str | None,
               settings: IndexSettings, params_file: Path | None) -> None:
    """Index a registered dataset (`dataset`: its key in `params_file`) or a tree by hand (`name`, `layout`) into
    the manifest `out` and print a summary (`filo data index`)."""
    from filo.data.index import default_rejects_path, format_summary
    from filo.data.registry import load_registry

    if dataset is not None:
        if name is not None or layout is not None:
            raise FiloError("--dataset takes the name and layout from the params' `datasets:` entry; "
                            "drop --name/--layout, or drop --dataset to index a tree by hand")
        registry = load_registry(params_file)
        spec = registry[dataset]
        result = index_manifest(root, out, dataset=registry.name(dataset), layout=spec.layout,
                                categories=spec.categories, settings=settings)
    elif name is None:
        raise FiloError("name the dataset stored in the manifest (--name NAME), or index a registered one "
                        "(--params params.yaml --dataset KEY)")
    else:
        result = index_manifest(root, out, dataset=name, layout=layout, settings=settings)
    print(format_summary(result))
    print(f"manifest written to {out}")
    if settings.skip_bad:
        print(f"rejects written to {default_rejects_path(out)}")


INDEX = StageSpec(
    ("data", "index"), index_tree, IndexSettings,
    (option("dataset", "a registered dataset: its key in `datasets:` of --params (name, layout and categories "
            "come from there)", metavar="KEY"),
     path_in("root", "dataset root (holds the category folders)", required=True),
     path_out("out", "manifest Parquet to write", required=True),
     option("layout", "on-disk layout (default: detected)", choices=LAYOUTS),
     option("name", "dataset name stored in the manifest (a tree indexed by hand)")),
    params_file=True,
    help="index a dataset tree into a manifest Parquet",
    description="Find every image of an MVTec AD, VisA or folder layout tree, validate images and masks, "
    "and write the manifest. Bad files fail the command with the full list unless --skip-bad.",
)
"""`filo data index`: one dataset tree into its manifest."""
