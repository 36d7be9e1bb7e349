"""Fixtures of the registry tests: direction files as training and evaluation write them, a local MLflow store."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prediction.builders import (
    MVTEC_CATEGORY,
    VISA_CATEGORY,
    save_tiny_checkpoint,
    write_descriptions_artifact,
    write_metrics,
    write_verdict_file,
)

from filo.registry.bundle import DirectionFiles

TRAINED_ON = {"synth_mvtec": [MVTEC_CATEGORY, "round_part"], "synth_visa": [VISA_CATEGORY, "trace_board"]}
MVTEC_TO_VISA = "synth_mvtec_to_synth_visa"
VISA_TO_MVTEC = "synth_visa_to_synth_mvtec"


CHECKPOINT_SEEDS = {"synth_mvtec": 0, "synth_visa": 1}
_checkpoints: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """One tiny checkpoint per training dataset for the whole session ("trained" on its categories)."""
    folder = tmp_path_factory.mktemp("registry-checkpoints")
    for train, seed in CHECKPOINT_SEEDS.items():
        _checkpoints[train] = save_tiny_checkpoint(folder / f"{train}.pt", train_dataset=train,
                                                   trained_categories=TRAINED_ON[train], seed=seed)
    return _checkpoints


def make_direction(
    folder: Path, train: str, target: str, *, image_auroc: float, pixel_auroc: float | None, threshold: float = 0.5
) -> DirectionFiles:
    """One direction's files: a copy of the session's checkpoint for `train`, evaluation outputs on `target`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_checkpoints[train], folder / "model.pt")
    return DirectionFiles(
        checkpoint=folder / "model.pt",
        metrics=write_metrics(folder / "metrics.json", dataset=target, image_auroc=image_auroc,
                              pixel_auroc=pixel_auroc),
        verdict=write_verdict_file(folder / "verdict.json", threshold),
        descriptions=write_descriptions_artifact(folder / "descriptions.json", TRAINED_ON[target]),
    )


def make_bundle_inputs(folder: Path, *, mvtec_to_visa: tuple[float, float] | None,
                       visa_to_mvtec: tuple[float, float] | None) -> list[DirectionFiles]:
    """Both directions (or those given) with (image_auroc, pixel_auroc) as their mean metrics."""
    directions = []
    if mvtec_to_visa is not None:
        directions.append(make_direction(folder / "m2v", "synth_mvtec", "synth_visa", image_auroc=mvtec_to_visa[0],
                                         pixel_auroc=mvtec_to_visa[1], threshold=0.4))
    if visa_to_mvtec is not None:
        directions.append(make_direction(folder / "v2m", "synth_visa", "synth_mvtec", image_auroc=visa_to_mvtec[0],
                                         pixel_auroc=visa_to_mvtec[1], threshold=0.6))
    return directions


@contextlib.contextmanager
def registered_champion(folder: Path) -> Iterator[tuple[str, list[DirectionFiles]]]:
    """Register both directions as version 1 (champion) of `filo` in a store in `folder`; (store URI, inputs).

    While the block runs, MLFLOW_TRACKING_URI selects that store and `folder` is the working directory.
    """
    from filo.registry.registration import register_bundle
    from filo.registry.settings import RegisterSettings

    with pytest.MonkeyPatch.context() as patch:
        uri = f"sqlite:///{folder}/mlflow.db"
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(folder)
        inputs = make_bundle_inputs(folder / "inputs", mvtec_to_visa=(0.7, 0.8), visa_to_mvtec=(0.6, 0.7))
        register_bundle(inputs, RegisterSettings(dvc_lock=folder / "none.lock"), repo=folder)
        yield uri, inputs


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite MLflow store in tmp_path, selected through MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri
