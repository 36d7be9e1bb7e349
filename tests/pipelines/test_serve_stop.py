"""Stopping `python -m filo.pipelines.serve` with SIGTERM or Ctrl-C: it exits within seconds, the flow run in
progress is marked Cancelled in Prefect, and no process it started outlives it (real processes, loopback only)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from filo.pipelines.serve import KILL_GRACE_S, STOP_GRACE_S

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
START_S = 120
"""Most seconds for the deployment to be served and its flow run to start (2 shared cores)."""


def marked_processes(mark: str) -> list[int]:
    """Pids of live processes whose environment carries `mark` (inherited by everything serve starts)."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("FILO_TEST_MARK") == mark and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_for(what: str, check, log: Path, timeout_s: float = START_S):
    """Poll `check()` until it returns something truthy; fail with the serve log after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"no {what} within {timeout_s} s; serve log:\n{log.read_text()[-3000:]}")


def api_url(log: Path) -> str | None:
    """The temporary Prefect server's address, once serve has printed that it serves."""
    text = log.read_text()
    if "Ctrl-C or SIGTERM stops it" not in text:
        return None
    url = text.split("Starting temporary server on ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:"), url
    return url + "/api"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_stopping_serve_cancels_the_running_flow_and_leaves_no_process(tmp_path, stop):
    import httpx

    mark = uuid.uuid4().hex
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    env = {**os.environ, "FILO_TEST_MARK": mark, "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
           "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "filo.pipelines.serve", "--workers", "1", "--no-register"],
                                 cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        api = wait_for("served deployment", lambda: api_url(log), log)
        with httpx.Client(base_url=api, timeout=30) as client:
            deployment = client.get("/deployments/name/filo-pipeline/nightly").json()
            created = client.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
            assert created.status_code == 201, created.text
            run = created.json()
            wait_for("running flow run", lambda: client.get(f"/flow_runs/{run['id']}").json()["state"]["type"]
                     == "RUNNING" and len(marked_processes(mark)) > 2, log)
        started = time.monotonic()
        serve.send_signal(stop)
        code = serve.wait(timeout=STOP_GRACE_S + 3 * KILL_GRACE_S + 10)
        stopped_s = time.monotonic() - started
    finally:
        if serve.poll() is None:
            serve.kill()
    assert code == 128 + stop, log.read_text()[-3000:]
    assert stopped_s < STOP_GRACE_S + 3 * KILL_GRACE_S, stopped_s
    time.sleep(1)
    assert marked_processes(mark) == [], log.read_text()[-3000:]
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        states = db.execute("select state_type from flow_run where id = ?", (run["id"],)).fetchall()
    assert states == [("CANCELLED",)], log.read_text()[-3000:]
