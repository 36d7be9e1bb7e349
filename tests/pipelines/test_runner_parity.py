"""`dvc repro` and the Prefect flow run the same stages with the same settings: every artifact has the same bytes.

Bytes, not a tolerance, on one machine: every stage computes with the same thread count in a `dvc repro`
process, in the flow's process and on a Dask worker (`filo.kernels.use_reproducible_kernels`), and MKL
runs in its conditional-reproducibility mode, which repeats its results for a fixed thread count on
Intel and AMD processors alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_command, scratch_repository

pytestmark = pytest.mark.slow

ARTIFACTS = [
    "results/preflight.json",
    *(f"data/manifests/{layout}.parquet" for layout in ("mvtec", "visa")),
    *(f"data/descriptions/{layout}.json" for layout in ("mvtec", "visa")),
    *(f"data/boxes/{layout}.parquet" for layout in ("mvtec", "visa")),
    *(f"models/filo_{direction}.pt" for direction in ("mvtec_to_visa", "visa_to_mvtec")),
    *(f"results/{direction}/{name}" for direction in ("mvtec_to_visa", "visa_to_mvtec")
      for name in ("metrics.json", "verdict.json", "scores.parquet", "metrics_table.csv")),
]


def test_dvc_and_prefect_write_identical_artifacts(prefect_server, tmp_path):
    from filo.pipelines.flows import filo_pipeline

    dvc_root = tmp_path / "dvc"
    dvc_root.mkdir()
    env = scratch_repository(dvc_root)
    repro = run_command(["dvc", "repro"], dvc_root, env)
    assert repro.returncode == 0, repro.stdout[-4000:] + repro.stderr[-4000:]

    flow_root = tmp_path / "prefect"
    result = filo_pipeline(params_file=str(dvc_root / "params.yaml"), root=str(flow_root), shards=2, workers=2)

    assert set(result["metrics"]) == {"evaluate_mvtec_to_visa", "evaluate_visa_to_mvtec"}
    different = [name for name in ARTIFACTS
                 if Path(dvc_root / name).read_bytes() != Path(flow_root / name).read_bytes()]
    assert different == []
    recorded = json.loads((dvc_root / "results" / "registration.json").read_text())
    assert result["registration"]["gate_values"] == recorded["gate_values"]
    assert not list(flow_root.rglob("*.fanout"))
