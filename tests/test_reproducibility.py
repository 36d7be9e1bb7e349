"""Every artifact of a chain has the same bytes whatever the working folder and the thread count."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHAIN = Path(__file__).with_name("reproducibility_chain.py")


def _run_chain(folder: Path, threads: int) -> dict[str, str]:
    """Run the chain in a fresh process inside `folder`; sha256 of every file it wrote, by relative path."""
    folder.mkdir(parents=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder.parent / 'unused-mlflow.db'}"}
    completed = subprocess.run([sys.executable, str(CHAIN), str(threads)], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=900, check=False)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.slow
def test_chain_artifacts_are_byte_identical_across_folders_and_thread_counts(tmp_path):
    one = _run_chain(tmp_path / "a", threads=1)
    two = _run_chain(tmp_path / "second-checkout" / "deeper", threads=2)

    expected = {"data/manifests/visa.parquet", "data/descriptions/visa.json", "data/boxes/visa.parquet",
                "models/tiny_grounding_dino/GroundingDINO_tiny_demo.py", "models/filo.pt",
                "results/scores.parquet", "results/metrics.json", "results/metrics_detail.json", "results/verdict.json",
                "results/metrics_table.csv", "results/plots/roc.png"}
    assert expected <= set(one), sorted(expected - set(one))
    assert set(one) == set(two)
    differing = sorted(name for name in one if one[name] != two[name])
    assert not differing, f"artifacts differ between folders/thread counts: {differing}"
