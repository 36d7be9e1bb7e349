"""A tiny evaluated and registered champion to serve: what the app's tests and `benchmarks/serving.py` run on.

`build_demo(root)` makes, under `root`: a synthetic VisA-layout test set of one category
(`CATEGORY`), its manifest and descriptions, a tiny-preset checkpoint with random seeded
weights "trained" on another category (`TRAIN_CATEGORY`, so `CATEGORY` is zero-shot), its
`filo evaluate` results (fpr threshold rule), and a registered version promoted to champion in
a SQLite MLflow store under `root`. It measures and shows the serving path, not the paper's
model: the scores mean nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filo.tracking import TRACKING_URI_ENV

CATEGORY = "wood_grain"
"""The demo's test category (VisA layout, described by filo's shipped defaults)."""
TRAIN_CATEGORY = "woven_fabric"
"""The category the demo checkpoint records as trained on (MVTec layout)."""
DATASET = "synth_visa"
"""The demo dataset's name; its registry key in the demo's params.yaml is "visa"."""


@dataclass(frozen=True)
class DemoModel:
    """Where `build_demo` put things."""

    root: Path
    tracking_uri: str
    """The SQLite MLflow store holding the registered champion (`models:/filo@champion`)."""
    checkpoint: Path
    manifest: Path
    results_dir: Path
    """The `filo evaluate` outputs, one folder per direction (mvtec_to_visa)."""
    images: list[Path]
    """The test images, normal and anomalous, sorted."""

    @property
    def roots(self) -> tuple[str, str]:
        """The app.roots that show the demo: its data and results folders."""
        return str(self.root / "data"), str(self.results_dir)


@contextmanager
def tracking_store(uri: str) -> Iterator[None]:
    """$MLFLOW_TRACKING_URI set to `uri` inside the block, restored after it."""
    previous = os.environ.get(TRACKING_URI_ENV)
    os.environ[TRACKING_URI_ENV] = uri
    try:
        yield
    finally:
        if previous is None:
            del os.environ[TRACKING_URI_ENV]
        else:
            os.environ[TRACKING_URI_ENV] = previous


def save_tiny_checkpoint(path: Path, *, train_dataset: str, trained_categories: list[str], seed: int = 0) -> Path:
    """A tiny-preset FiLo checkpoint whose config records what it was "trained" on (weights from `seed`)."""
    import torch

    from filo.model.checkpoint import save_checkpoint
    from filo.model.config import TrainingProvenance, preset_config
    from filo.model.filo import FiLo

    provenance = TrainingProvenance(train_dataset=train_dataset, trained_categories=tuple(trained_categories))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        save_checkpoint(FiLo(preset_config("tiny", {"provenance": provenance})), path)
    return path


def build_demo(root: str | os.PathLike, *, seed: int = 0) -> DemoModel:
    """Synthetic data -> manifest -> descriptions -> tiny checkpoint -> `evaluate` (fpr rule) -> champion."""
    from filo.data.index import index_dataset
    from filo.data.manifest import read_manifest
    from filo.data.synthetic import generate_dataset
    from filo.descriptions import resolve_descriptions, write_descriptions
    from filo.evaluation.evaluate import evaluate
    from filo.evaluation.settings import EvaluationSettings
    from filo.registry.bundle import DirectionFiles
    from filo.registry.registration import register_bundle
    from filo.registry.settings import RegisterSettings

    root = Path(root)
    generate_dataset("visa", root / "data" / "datasets" / "visa", seed=seed, categories=[CATEGORY], image_size=64,
                     n_train_good=1, n_test_good=4, n_test_per_defect=1)
    # As in the demo profile: the registry entry "visa" names the dataset; its manifest is the key's.
    (root / "params.yaml").write_text(f"datasets:\n  visa: {{name: {DATASET}, layout: visa, source: synthetic}}\n",
                                      encoding="utf-8")
    manifest = root / "data" / "manifests" / "visa.parquet"
    manifest.parent.mkdir(parents=True)
    index_dataset(root / "data" / "datasets" / "visa", manifest, dataset=DATASET)
    descriptions = root / "descriptions.json"
    write_descriptions(descriptions, resolve_descriptions([CATEGORY], cache_dir=root / "cache"))
    checkpoint = save_tiny_checkpoint(root / "model.pt", train_dataset="synth_mvtec",
                                      trained_categories=[TRAIN_CATEGORY], seed=seed)
    results = root / "results"
    out = results / "mvtec_to_visa"
    evaluate(checkpoint, manifest, descriptions, out,
             settings=EvaluationSettings(threshold_rule="fpr", target_fpr=0.25, gallery_size=0, experiment=None))
    uri = f"sqlite:///{root}/mlflow.db"
    with tracking_store(uri):
        register_bundle([DirectionFiles(checkpoint, out / "metrics.json", out / "verdict.json", descriptions)],
                        RegisterSettings(dvc_lock=root / "none.lock"), repo=root)
    images = sorted(Path(p) for p in read_manifest(manifest)["image_path"])
    return DemoModel(root, uri, checkpoint, manifest, results, images)
