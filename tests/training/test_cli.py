"""`filo train` on the command line, including a run killed mid-epoch and resumed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import mlflow
import pytest
import torch

from filo import tracking
from filo.cli import main
from filo.model.checkpoint import read_payload
from filo.settings import load_settings
from filo.training import TrainParams, train, training_state_path

QUICK_PARAMS = "train:\n  model_preset: tiny\n  epochs: 1\n  adapter_epochs: 0\n  batch_size: 3\n  aug_rate: 0.5\n"
# Four phase-1 epochs: the kill, 0.5 s after the first epoch's state, must land before the run ends even on an
# idle machine.
KILL_PARAMS = ("train:\n  model_preset: tiny\n  epochs: 4\n  adapter_epochs: 1\n  batch_size: 1\n"
               "  aug_rate: 0.5\n  device: cpu\n")


def _arguments(data, out, params_file, *extra: str) -> list[str]:
    return ["train", "--manifest", str(data.manifest), "--descriptions", str(data.descriptions),
            "--out", str(out), "--params", str(params_file), "--no-progress", *extra]


def test_cli_trains_from_a_params_file_with_a_disjoint_evaluation_set(tiny_data, eval_data, tmp_path, capsys):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(QUICK_PARAMS)
    out = tmp_path / "models" / "filo.pt"
    code = main(_arguments(tiny_data, out, params_file, "--eval-manifest", str(eval_data.manifest),
                           "--no-mlflow", "--device", "cpu"))
    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert read_payload(out)["config"]["provenance"]["epochs"] == 1


def test_cli_refuses_an_overlapping_evaluation_set_with_exit_code_2(tiny_data, tmp_path, capsys):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(QUICK_PARAMS)
    code = main(_arguments(tiny_data, tmp_path / "filo.pt", params_file, "--eval-manifest",
                           str(tiny_data.manifest), "--no-mlflow"))
    assert code == 2
    assert f"training categories ['{tiny_data.category}'] also appear" in capsys.readouterr().err


def _wait_for(path, process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"training exited early with code {process.returncode}"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s}s"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, f"sqlite:///{tmp_path}/mlflow.db")
    params_file = tmp_path / "params.yaml"
    params_file.write_text(KILL_PARAMS)
    out = tmp_path / "killed.pt"
    command = [sys.executable, "-c", "import sys; from filo.cli import main; sys.exit(main())",
               *_arguments(tiny_data, out, params_file)]
    # Both runs compute with filo.kernels.compute_threads() threads, whatever OMP_NUM_THREADS other tests left.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for(training_state_path(out), process, timeout_s=300)
        time.sleep(0.5)  # a few steps into the second epoch
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not out.exists()
    killed_state = torch.load(training_state_path(out), weights_only=True)
    assert killed_state["epochs_done"] >= 1 and killed_state["mlflow_run_id"]

    assert main(_arguments(tiny_data, out, params_file, "--resume")) == 0
    uninterrupted = train(tiny_data.manifest, tiny_data.descriptions, tmp_path / "straight.pt",
                          load_settings(TrainParams, params_file, {"mlflow": False, "progress": False}))
    resumed, expected = read_payload(out)["state_dict"], read_payload(uninterrupted.checkpoint)["state_dict"]
    assert [key for key in expected if not torch.equal(expected[key], resumed[key])] == []

    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.get_run(killed_state["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert {m.step for m in client.get_metric_history(run.info.run_id, "prompt/loss")} == {1, 2, 3, 4}
