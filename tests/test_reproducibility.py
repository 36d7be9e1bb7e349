"""What filo promises of a chain's artifacts (`filo.kernels`), on any x86-64 processor:

- the same thread count, another working folder: the same bytes (MKL's CNR mode with a fixed
  thread count, oneDNN off, torch's deterministic kernels: run-to-run reproducible on Intel
  and AMD alike);
- another thread count: the same artifacts up to float32 rounding: equal rows, names and
  counts, floats within `ARTIFACT_TOLERANCE`, metrics within the tolerance `filo check-repro`
  applies. On the AMD EPYC machines the suite was written on they happen to be the same
  bytes; on an Intel Xeon with AVX-512 box logits moved by up to 4.9e-6 and metrics by 1.4e-5.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from filo.kernels import REPRODUCIBLE_METRICS_ABS_TOL, THREADS_ENV
from filo.reproducibility import compare_metrics

CHAIN = Path(__file__).with_name("reproducibility_chain.py")
ARTIFACT_TOLERANCE = 1e-4
"""Absolute tolerance for the floats of boxes, scores and checkpoints between thread counts."""
RENDERED = {".png"}
"""Files drawn from compared values (plots): their pixels may move with the last bits of what they draw."""


def _run_chain(folder: Path, threads: int) -> Path:
    """Run the chain in a fresh process inside `folder`, computing with `threads` threads; the folder."""
    folder.mkdir(parents=True)
    env = {**os.environ, THREADS_ENV: str(threads),
           "MLFLOW_TRACKING_URI": f"sqlite:///{folder.parent / 'unused-mlflow.db'}"}
    completed = subprocess.run([sys.executable, str(CHAIN)], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=900, check=False)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return folder


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _tables_agree(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Same columns and rows; non-float columns equal, float columns within ARTIFACT_TOLERANCE."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for column in a.columns:
        if a[column].dtype.kind == "f":
            if not np.allclose(a[column], b[column], rtol=0, atol=ARTIFACT_TOLERANCE, equal_nan=True):
                return False
        elif not a[column].astype(str).equals(b[column].astype(str)):
            return False
    return True


def _tensors_agree(a: object, b: object) -> bool:
    """Nested checkpoint payloads: same structure, tensors of the same shape within ARTIFACT_TOLERANCE."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_tensors_agree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_tensors_agree, a, b))
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
                and torch.allclose(a.double(), b.double(), rtol=0, atol=ARTIFACT_TOLERANCE))
    return a == b


def _artifacts_agree(name: str, a: Path, b: Path) -> bool:
    """Whether one artifact of two runs agrees within the promised tolerance, by file type."""
    suffix = a.suffix
    if suffix in RENDERED:
        return b.is_file()
    if suffix == ".parquet":
        return _tables_agree(pd.read_parquet(a), pd.read_parquet(b))
    if suffix == ".csv":
        return _tables_agree(pd.read_csv(a), pd.read_csv(b))
    if suffix == ".json":
        return all(item.ok for item in compare_metrics(name, json.loads(a.read_text()), json.loads(b.read_text()),
                                                       REPRODUCIBLE_METRICS_ABS_TOL))
    if suffix == ".pt":
        return _tensors_agree(torch.load(a, weights_only=True), torch.load(b, weights_only=True))
    return a.read_bytes() == b.read_bytes()


EXPECTED = {"data/manifests/visa.parquet", "data/descriptions/visa.json", "data/boxes/visa.parquet",
            "models/tiny_grounding_dino/GroundingDINO_tiny_demo.py", "models/filo.pt",
            "results/scores.parquet", "results/metrics.json", "results/metrics_detail.json", "results/verdict.json",
            "results/metrics_table.csv", "results/plots/roc.png"}


@pytest.fixture(scope="module")
def two_threads(tmp_path_factory) -> Path:
    return _run_chain(tmp_path_factory.mktemp("chain") / "a", threads=2)


@pytest.mark.slow
def test_the_same_thread_count_in_another_folder_gives_the_same_bytes(two_threads, tmp_path):
    other = _digests(_run_chain(tmp_path / "second-checkout" / "deeper", threads=2))
    one = _digests(two_threads)

    assert EXPECTED <= set(one), sorted(EXPECTED - set(one))
    assert set(one) == set(other)
    differing = sorted(name for name in one if one[name] != other[name])
    assert not differing, f"artifacts differ between folders at the same thread count: {differing}"


@pytest.mark.slow
def test_another_thread_count_gives_the_same_artifacts_within_float32_rounding(two_threads, tmp_path):
    one_thread = _run_chain(tmp_path / "b", threads=1)
    names = set(_digests(two_threads))

    assert names == set(_digests(one_thread))
    differing = sorted(name for name in names
                       if not _artifacts_agree(name, two_threads / name, one_thread / name))
    assert not differing, f"artifacts differ between 1 and 2 threads beyond float32 rounding: {differing}"


def test_the_tolerance_check_catches_what_float32_rounding_cannot_explain(tmp_path):
    table = pd.DataFrame({"image_id": ["a", "b"], "logit": np.float32([0.3, 0.4])})
    assert _tables_agree(table, table.assign(logit=table["logit"] + np.float32(4.9e-6)))
    assert not _tables_agree(table, table.assign(logit=table["logit"] + np.float32(1e-3)))
    assert not _tables_agree(table, table.assign(image_id=["a", "c"]))
    assert not _tables_agree(table, table.iloc[:1])

    state = {"state_dict": {"w": torch.ones(3)}, "config": {"preset": "tiny"}}
    assert _tensors_agree(state, {"state_dict": {"w": torch.ones(3) + 1e-6}, "config": {"preset": "tiny"}})
    assert not _tensors_agree(state, {"state_dict": {"w": torch.ones(3) + 1e-3}, "config": {"preset": "tiny"}})
    assert not _tensors_agree(state, {"state_dict": {"w": torch.ones(4)}, "config": {"preset": "tiny"}})
    assert not _tensors_agree(state, {"state_dict": {"w": torch.ones(3)}, "config": {"preset": "small"}})
