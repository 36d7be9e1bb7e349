"""Killed runs leave no litter: stale temporaries are cleaned, MLflow runs end KILLED/FAILED, foreign files stay."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import mlflow
import pytest

from filo.errors import Interrupted
from filo.evaluation.evaluate import EvaluationSettings, evaluate
from filo.io import _host_tag, atomic_path, atomic_write_text
from filo.tracking import OWNER_TAG, process_identity, start_run


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_next_write_removes_temporaries_of_dead_writers_only(tmp_path):
    dead, host = _dead_pid(), _host_tag()
    stale_file = tmp_path / f".out.json.{dead}.{host}.k2j4.tmp"
    stale_dir = tmp_path / f".results.{dead}.{host}.x9z1.tmp"
    live = tmp_path / f".out.json.{os.getppid()}.{host}.abcd.tmp"
    elsewhere = tmp_path / f".out.json.{dead}.other-host.abcd.tmp"
    stale_file.write_text("half")
    (stale_dir / "plots").mkdir(parents=True)
    for path in (live, elsewhere):
        path.write_text("someone else's")
    atomic_write_text(tmp_path / "out.json", "{}")
    assert not stale_file.exists() and stale_dir.exists()  # only the temporaries of the path being written
    with atomic_path(tmp_path / "results") as folder:
        folder.mkdir()
    assert not stale_dir.exists()
    assert live.exists() and elsewhere.exists()


def test_a_folder_left_aside_by_a_kill_between_two_renames_is_put_back(tmp_path):
    aside = tmp_path / f".results.{_dead_pid()}.{_host_tag()}.old"
    aside.mkdir()
    (aside / "metrics.json").write_text("{}")
    with atomic_path(tmp_path / "other") as folder:  # a write of another path in the same folder
        folder.mkdir()
    assert aside.exists()
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "results"):
        raise RuntimeError("this write fails, but the previous version came back first")
    assert (tmp_path / "results" / "metrics.json").read_text() == "{}" and not aside.exists()


def test_evaluate_keeps_files_it_did_not_create_in_its_output_folder(tiny_project, evaluated, tmp_path):
    out = shutil.copytree(evaluated, tmp_path / "results")
    (out / ".gitignore").write_text("/scores.parquet\n")
    (out / "plots" / ".gitignore").write_text("/roc.png\n")
    (out / "NOTES.md").write_text("mine\n")
    (out / "plots" / "gallery.png").write_bytes(b"from an older run with a gallery")
    evaluate(tiny_project.model, tiny_project.manifest, tiny_project.descriptions, out,
             settings=EvaluationSettings(experiment=None, gallery_size=0))
    assert (out / ".gitignore").read_text() == "/scores.parquet\n"
    assert (out / "plots" / ".gitignore").read_text() == "/roc.png\n"
    assert (out / "NOTES.md").read_text() == "mine\n"
    assert not (out / "plots" / "gallery.png").exists()  # filo's own stale output is not kept
    assert [p.name for p in tmp_path.iterdir() if p.name != "mlflow.db"] == ["results"]


@pytest.mark.parametrize(("error", "status"), [(ValueError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED"),
                                               (Interrupted(signal.SIGTERM), "KILLED")])
def test_a_run_ending_by_exception_or_signal_is_marked(error, status):
    with pytest.raises(type(error)), start_run("faults") as run:
        raise error
    assert mlflow.get_run(run.info.run_id).info.status == status


def test_the_next_start_repairs_runs_left_running_by_dead_processes():
    client = mlflow.MlflowClient()
    with start_run("faults"):
        pass
    experiment = client.get_experiment_by_name("faults").experiment_id
    dead = client.create_run(experiment, tags={OWNER_TAG: process_identity(_dead_pid())}).info.run_id
    alive = client.create_run(experiment, tags={OWNER_TAG: process_identity()}).info.run_id
    unknown = client.create_run(experiment).info.run_id
    with start_run("faults") as run:
        assert mlflow.get_run(run.info.run_id).info.status == "RUNNING"
    assert [client.get_run(run_id).info.status for run_id in (dead, alive, unknown)] == ["KILLED", "RUNNING",
                                                                                          "RUNNING"]


KILLER = textwrap.dedent("""
    import os, signal, sys
    import filo.evaluation.outputs as outputs

    def die(*args, **kwargs):  # the last file of the write phase: everything else is in the temporary folder
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))

    outputs.write_metrics_json = die
    from filo.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _evaluate_process(tiny_project, out, signal_name, env):
    command = [sys.executable, "-c", KILLER, signal_name, "evaluate", "--model", str(tiny_project.model),
               "--manifest", str(tiny_project.manifest), "--descriptions", str(tiny_project.descriptions),
               "--out-dir", str(out)]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_sigkill_in_evaluates_write_phase_leaves_nothing_after_the_next_run(tiny_project, tmp_path,
                                                                           isolated_mlflow):
    env = {**os.environ, "MLFLOW_TRACKING_URI": isolated_mlflow}
    out = tmp_path / "results"
    killed = _evaluate_process(tiny_project, out, "SIGKILL", env)
    assert killed.returncode == -signal.SIGKILL
    litter = [p.name for p in tmp_path.iterdir() if p.name.startswith(".results.")]
    assert len(litter) == 1 and (tmp_path / litter[0] / "scores.parquet").is_file()  # the kill hit the write phase
    assert mlflow.search_runs(search_all_experiments=True)["status"].tolist() == ["RUNNING"]

    again = subprocess.run([sys.executable, "-m", "filo.cli", "evaluate", "--model", str(tiny_project.model),
                            "--manifest", str(tiny_project.manifest), "--descriptions",
                            str(tiny_project.descriptions), "--out-dir", str(out)],
                           check=False, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".results.")]
    assert (out / "metrics.json").is_file()
    statuses = mlflow.search_runs(search_all_experiments=True, order_by=["start_time ASC"])["status"].tolist()
    assert statuses == ["KILLED", "FINISHED"]


@pytest.mark.slow
def test_sigterm_in_evaluates_write_phase_cleans_up_at_once(tiny_project, tmp_path, isolated_mlflow):
    env = {**os.environ, "MLFLOW_TRACKING_URI": isolated_mlflow}
    out = tmp_path / "results"
    stopped = _evaluate_process(tiny_project, out, "SIGTERM", env)
    assert stopped.returncode == 128 + signal.SIGTERM
    assert "filo evaluate: interrupted by SIGTERM" in stopped.stderr and "Traceback" not in stopped.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".results.")]
    assert mlflow.search_runs(search_all_experiments=True)["status"].tolist() == ["KILLED"]
