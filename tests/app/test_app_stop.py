"""Stopping a real `filo app` process (SIGTERM or Ctrl-C) while predictions are in flight: it exits within
seconds with 128 + the signal, and leaves no process behind (loopback only, bounded request count)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from prediction.builders import VISA_CATEGORY

from filo.app.server import STOP_GRACE_S

pytestmark = pytest.mark.slow

START_S = 120
"""Most seconds for the app to answer (imports and the model load on 2 shared cores)."""
EXIT_S = 5
"""Seconds, beyond the grace of open requests, for the process to be gone (it skips the interpreter's teardown)."""


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_filo_app_stops_within_seconds_under_load(demo, tmp_path, stop):
    import httpx
    import psutil

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MLFLOW_TRACKING_URI": demo.tracking_uri}
    log = tmp_path / "app.log"
    command = [sys.executable, "-m", "filo.cli", "app", "--port", str(port), "--results-dir", demo.settings.results_dir,
               "--roots", ",".join(demo.settings.roots), "--max-queue", "8"]
    with log.open("w") as out:
        app = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    folder = str(demo.root / "data")
    params = {"model": "models:/filo@champion", "category": VISA_CATEGORY, "folder": folder}
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert app.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/api/folder", params=params, timeout=60).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        children = psutil.Process(app.pid).children(recursive=True)

        def load():
            for _ in range(5):
                try:
                    httpx.get(f"{base}/api/folder", params={**params, "page": 2}, timeout=30)
                except httpx.TransportError:
                    return

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        started = time.monotonic()
        app.send_signal(stop)
        code = app.wait(timeout=60)
        stopped_s = time.monotonic() - started
    finally:
        if app.poll() is None:
            app.kill()
    assert code == 128 + stop, log.read_text()[-3000:]
    assert stopped_s < STOP_GRACE_S + EXIT_S, (stopped_s, log.read_text()[-3000:])
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert f"filo app: stopped by {signal.Signals(stop).name}" in log.read_text()
