"""The datasets a pipeline knows, as data: the `datasets:` and `targets:` sections of a profile's params.yaml.

Each entry of `datasets:` is one dataset under a key (the key names its stages and its
artifacts: `dataset_<key>`, `data/manifests/<key>.parquet`, ...)::

    datasets:
      mvtec: {name: synth_mvtec, layout: mvtec, source: synthetic}
      visa: {layout: visa, source: download}            # the official archive of the layout
      line3: {layout: folder, source: local, path: /data/line3, categories: [gear_wheel]}

A dataset's *name* (written into manifests, checkpoints, model versions and predictions)
and its *layout* (how its files sit on disk: `mvtec`, `visa`, or `folder`, see
`filo.data.index_folder`) are separate things. Its *source* says how it gets onto disk:
generated (`synthetic`), downloaded and verified by SHA-256 (`download`), or read in
place from a folder you have (`local`: nothing is copied; the manifest points at your files).

`targets:` lists datasets that are only evaluated: every training direction (a model trained
on one non-target dataset, evaluated zero-shot on another) is also evaluated on each target.
Adding a dataset is an entry here, with no code change; `filo.pipelines.dag` derives the stages.
"""

from __future__ import annotations

import itertools
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from filo.errors import FiloError
from filo.settings import check_choices, read_params, settings_from_mapping

__all__ = [
    "DATASETS_SECTION",
    "DEFAULT_DATASETS",
    "LAYOUTS",
    "TARGETS_SECTION",
    "DatasetRegistry",
    "DatasetSpec",
    "load_registry",
    "registry_from_params",
]

DATASETS_SECTION = "datasets"
TARGETS_SECTION = "targets"
Layout = Literal["mvtec", "visa", "folder"]
Source = Literal["synthetic", "download", "local"]
LAYOUTS: tuple[str, ...] = typing.get_args(Layout)
"""The on-disk layouts the indexer reads."""
DATA_DIR = "data"
"""The folder of a profile's data artifacts (datasets, manifests, descriptions, boxes)."""
_KEY = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
"""A dataset key: it becomes part of stage names and file names."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the registry (an entry of params section `datasets`)."""

    layout: Layout
    """How the files sit on disk: 'mvtec' (MVTec AD), 'visa' (VisA's 1cls split) or 'folder' (a folder of good
    images with optional defect sub-folders and masks, see filo.data.index_folder)."""
    source: Source
    """'synthetic': generated in the layout; 'download': an archive fetched and verified by SHA-256;
    'local': a folder you have, indexed in place (nothing is copied)."""
    name: str | None = None
    """The dataset name written into manifests, checkpoints and predictions (none: the entry's key)."""
    categories: tuple[str, ...] | None = None
    """Synthetic: the categories to generate (none: the layout's demo set); folder layout: the one category the
    folder holds (none: the folder's name); other layouts: index only these categories (none: all)."""
    url: str | None = None
    """Download only: where the archive is (none: the official URL of the layout's dataset)."""
    sha256: str | None = None
    """Download only: the archive's SHA-256, its identity (none: the official one of the layout's dataset)."""
    archive: str | None = None
    """Download only: an archive you already have (verified, hard-linked or read in place, never changed)."""
    path: Path | None = None
    """Local only: the dataset folder (relative paths: to the folder the stages run in, the profile's)."""
    renderer: str | None = None
    """Synthetic folder layout only: the procedural category that draws the images (filo.data.synthetic.CATEGORIES),
    so a generated product can carry a name of its own (`categories`)."""
    seed_offset: int = 0
    """Synthetic only: added to data.seed, so two generated datasets of one layout differ."""

    def __post_init__(self) -> None:
        check_choices(self)
        problems = []
        if self.source == "local" and self.path is None:
            problems.append("a local source needs `path: FOLDER`")
        if self.source != "local" and self.path is not None:
            problems.append(f"`path` is for a local source only (source is {self.source!r})")
        if self.source != "download" and any((self.url, self.sha256, self.archive)):
            problems.append(f"`url`, `sha256` and `archive` are for a download source only (source is {self.source!r})")
        if self.source == "download" and self.layout == "folder" and not (self.url and self.sha256):
            problems.append("a downloaded folder-layout dataset needs its `url` and `sha256`")
        if self.source == "synthetic" and self.layout == "folder" and self.renderer is None:
            problems.append("a synthetic folder-layout dataset needs `renderer:` (the procedural category to draw)")
        if self.renderer is not None and not (self.source == "synthetic" and self.layout == "folder"):
            problems.append("`renderer` is for a synthetic folder-layout dataset only")
        if self.layout == "folder" and self.categories is not None and len(self.categories) != 1:
            problems.append(f"a folder-layout dataset holds one category, got {list(self.categories)}")
        if problems:
            raise FiloError("; ".join(problems))


DEFAULT_DATASETS: dict[str, DatasetSpec] = {
    "mvtec": DatasetSpec(layout="mvtec", source="download"),
    "visa": DatasetSpec(layout="visa", source="download"),
}
"""The registry of a params file without a `datasets:` section: the paper's MVTec AD and VisA, downloaded."""


@dataclass(frozen=True)
class DatasetRegistry:
    """The datasets of a profile, in params order, and which of them are evaluation targets only."""

    datasets: dict[str, DatasetSpec] = field(default_factory=lambda: dict(DEFAULT_DATASETS))
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key in self.datasets:
            if not _KEY.match(str(key)):
                raise FiloError(f"dataset key {key!r} in `{DATASETS_SECTION}:` must be lower-case letters, digits and "
                                "underscores (at most 64, starting with a letter or digit): it names stages and files")
        unknown = [key for key in self.targets if key not in self.datasets]
        if unknown:
            raise FiloError(f"`{TARGETS_SECTION}:` names {unknown}, which are not in `{DATASETS_SECTION}:` "
                            f"({list(self.datasets)}); add an entry for each target")
        names: dict[str, str] = {}
        for key in self.datasets:
            name = self.name(key)
            if name in names:
                raise FiloError(f"datasets {names[name]!r} and {key!r} share the name {name!r}; give one a `name:`")
            names[name] = key

    def __getitem__(self, key: str) -> DatasetSpec:
        try:
            return self.datasets[key]
        except KeyError:
            raise FiloError(f"no dataset {key!r} in `{DATASETS_SECTION}:`; known: {list(self.datasets)}") from None

    def name(self, key: str) -> str:
        """The dataset name of entry `key` (written into its manifest)."""
        return self[key].name or key

    def key_of(self, name: str) -> str | None:
        """The entry whose dataset is called `name` (as a manifest or checkpoint says), or None."""
        return next((key for key in self.datasets if self.name(key) == name), None)

    def dataset_dir(self, key: str) -> str:
        """Where the dataset's files are, relative to the profile folder: its local path, or data/datasets/<key>."""
        spec = self[key]
        return Path(spec.path).as_posix() if spec.source == "local" else f"{DATA_DIR}/datasets/{key}"

    def manifest(self, key: str) -> str:
        """The manifest of entry `key`, relative to the profile folder."""
        self[key]
        return f"{DATA_DIR}/manifests/{key}.parquet"

    def manifest_of(self, name: str) -> str | None:
        """The manifest of the dataset called `name` (as a checkpoint or model version names it), or None."""
        key = self.key_of(name)
        return None if key is None else self.manifest(key)

    def descriptions(self, key: str) -> str:
        """The descriptions artifact of entry `key`, relative to the profile folder."""
        self[key]
        return f"{DATA_DIR}/descriptions/{key}.json"

    def boxes(self, key: str) -> str:
        """The boxes table of entry `key`, relative to the profile folder."""
        self[key]
        return f"{DATA_DIR}/boxes/{key}.parquet"

    @property
    def training(self) -> tuple[str, ...]:
        """The datasets models are trained on: every one not listed in `targets`."""
        return tuple(key for key in self.datasets if key not in self.targets)

    @property
    def directions(self) -> tuple[tuple[str, str], ...]:
        """(training dataset, evaluation dataset) of every zero-shot direction: each ordered pair of training sets."""
        return tuple(itertools.permutations(self.training, 2))

    @property
    def evaluated(self) -> tuple[str, ...]:
        """The datasets some model is evaluated on (a direction's other side, or a target), in params order."""
        wanted = {target for _, target in self.directions} | set(self.targets)
        return tuple(key for key in self.datasets if key in wanted)


def registry_from_params(document: dict, *, source: str = "params") -> DatasetRegistry:
    """The registry of a parsed params document (its `datasets:` and `targets:` sections)."""
    entries = document.get(DATASETS_SECTION)
    targets = document.get(TARGETS_SECTION) or []
    if entries is None:
        datasets = dict(DEFAULT_DATASETS)
    elif not isinstance(entries, dict) or not entries:
        raise FiloError(f"section `{DATASETS_SECTION}:` of {source} must map dataset keys to entries, got {entries!r}")
    else:
        datasets = {str(key): settings_from_mapping(DatasetSpec, value or {},
                                                    source=f"{DATASETS_SECTION}.{key} of {source}")
                    for key, value in entries.items()}
    if not isinstance(targets, list) or not all(isinstance(key, str) for key in targets):
        raise FiloError(f"section `{TARGETS_SECTION}:` of {source} must be a list of dataset keys, got {targets!r}")
    return DatasetRegistry(datasets, tuple(targets))


def load_registry(params_file: str | os.PathLike | None) -> DatasetRegistry:
    """The registry of a params file (the paper's two datasets when it has no `datasets:` section, or no file)."""
    if params_file is None:
        return DatasetRegistry()
    return registry_from_params(read_params(params_file), source=str(params_file))
