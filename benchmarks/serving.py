"""Serving under bounded concurrent load on 127.0.0.1: `filo app` and `mlflow models serve`, same model, same image.

Builds the app's tiny registered champion (`filo.app.demo.build_demo`: synthetic VisA-layout
images, the tiny preset's random weights; this measures the serving path, not the paper's
model) in a temporary folder, starts each server as its own process on 127.0.0.1, sends a
bounded number of requests a few at a time (each bounded in time too), samples the resident
memory of the server's process tree, and stops it with SIGTERM. Reports p50/p95 latency, throughput, peak RSS, and for the app's
soak the RSS growth after warm-up (`--warmup` requests); also how long the stop took and
whether any process was left.

    python benchmarks/serving.py                           # 500 app requests (the soak), 100 MLflow ones
    python benchmarks/serving.py --requests 100 --mlflow-requests 50 --json serving.json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
MODEL = "models:/filo@champion"
START_S = 300
"""Most seconds a server gets to answer its first request."""
REQUEST_TIMEOUT_S = 60
SAMPLE_S = 0.05
"""Resident-memory sampling period."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def tree_rss(pid: int) -> int:
    """Resident bytes of process `pid` and all its descendants."""
    import psutil

    total = 0
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    except psutil.NoSuchProcess:
        pass
    return total


@dataclass
class Run:
    """What one server did under load."""

    server: str
    requests: int
    concurrency: int
    status_counts: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    throughput_rps: float = 0.0
    peak_rss_mb: float = 0.0
    rss_after_warmup_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_growth_after_warmup_pct: float = 0.0
    stop_s: float = 0.0
    processes_left: int = 0


def measure(name: str, command: list[str], env: dict[str, str], ready, send, *, requests: int, warmup: int,
            concurrency: int, max_seconds: float, log: Path) -> Run:
    """Start `command`, wait for `ready()`, send `requests` (at most `max_seconds`), sample RSS, stop with SIGTERM."""
    import psutil

    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    run = Run(name, 0, concurrency)
    try:
        deadline = time.monotonic() + START_S
        while not ready():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        if send() != 200:  # the first request loads the model: not part of the load
            raise SystemExit(f"{name} failed its first request; its log:\n{log.read_text()[-3000:]}")
        peak, done, marks = [tree_rss(server.pid)], [0], {}
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(SAMPLE_S):
                peak[0] = max(peak[0], tree_rss(server.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        latencies: list[float] = []
        counts: dict[str, int] = {}
        lock = threading.Lock()
        end_by = time.monotonic() + max_seconds

        def one(_index: int) -> None:
            if time.monotonic() > end_by:
                return
            start = time.perf_counter()
            status = send()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                counts[str(status)] = counts.get(str(status), 0) + 1
                done[0] += 1
                if done[0] == warmup:
                    marks["warmup"] = tree_rss(server.pid)

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(requests)))
        wall = time.perf_counter() - started
        stop_sampling.set()
        sampler.join()
        end_rss = tree_rss(server.pid)
        children = psutil.Process(server.pid).children(recursive=True)
        stop_started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        run.stop_s = round(time.monotonic() - stop_started, 2)
        if set(counts) - {"200"}:
            print(f"{name} answered {counts}; the end of its log:\n{log.read_text()[-2000:]}", file=sys.stderr)
        time.sleep(0.5)
        run.processes_left = sum(1 for child in children if _alive(child)) + (server.poll() is None)
        ordered = sorted(latencies)
        run.requests = len(latencies)
        run.status_counts = counts
        run.p50_ms = round(1000 * statistics.median(ordered), 1)
        run.p95_ms = round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)
        run.throughput_rps = round(len(latencies) / wall, 2)
        run.peak_rss_mb = round(max(peak[0], end_rss) / 2**20, 1)
        run.rss_end_mb = round(end_rss / 2**20, 1)
        if "warmup" in marks:
            run.rss_after_warmup_mb = round(marks["warmup"] / 2**20, 1)
            run.rss_growth_after_warmup_pct = round(100 * (end_rss - marks["warmup"]) / marks["warmup"], 2)
        return run
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def get_ok(url: str) -> bool:
    """True when GET `url` answers 200 (False while the server is not up)."""
    import httpx

    try:
        return httpx.get(url, timeout=REQUEST_TIMEOUT_S).status_code == 200
    except httpx.TransportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="requests to the app (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="app requests before the RSS growth baseline (default: %(default)s)")
    parser.add_argument("--mlflow-requests", type=int, default=100,
                        help="requests to mlflow models serve; 0 skips it (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default: %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=600, help="time bound of each load (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    import httpx

    from filo.app.demo import CATEGORY, build_demo

    with tempfile.TemporaryDirectory(prefix="filo-serving-") as scratch:
        root = Path(scratch)
        demo = build_demo(root)
        image = demo.images[-1]
        photo = image.read_bytes()
        env = {**os.environ, "MLFLOW_TRACKING_URI": demo.tracking_uri, "PYTHONUNBUFFERED": "1"}
        client = httpx.Client(timeout=REQUEST_TIMEOUT_S)
        runs = []

        port = free_port()
        app = f"http://{HOST}:{port}"
        runs.append(measure(
            "filo app", [sys.executable, "-m", "filo.cli", "app", "--host", HOST, "--port", str(port),
                         "--roots", ",".join(demo.roots), "--results-dir", str(demo.results_dir),
                         "--max-queue", str(args.concurrency)],
            env, lambda: get_ok(f"{app}/results"),
            lambda: client.post(f"{app}/api/predict", params={"model": MODEL, "category": CATEGORY,
                                                              "name": image.name}, content=photo).status_code,
            requests=args.requests, warmup=args.warmup, concurrency=args.concurrency, max_seconds=args.max_seconds,
            log=root / "app.log"))

        if args.mlflow_requests:
            port = free_port()
            rest = f"http://{HOST}:{port}"
            body = json.dumps({"dataframe_split": {"columns": ["image", "category"],
                                                   "data": [[base64.b64encode(photo).decode(), CATEGORY]]}})
            runs.append(measure(
                "mlflow models serve", ["mlflow", "models", "serve", "-m", MODEL, "--env-manager", "local",
                                        "-h", HOST, "-p", str(port), "-w", "1"],
                env, lambda: get_ok(f"{rest}/ping"),
                lambda: client.post(f"{rest}/invocations", content=body,
                                    headers={"Content-Type": "application/json"}).status_code,
                requests=args.mlflow_requests, warmup=min(args.warmup, args.mlflow_requests // 5),
                concurrency=args.concurrency, max_seconds=args.max_seconds, log=root / "mlflow.log"))
        client.close()

    columns = ("server", "requests", "status_counts", "p50_ms", "p95_ms", "throughput_rps", "peak_rss_mb",
               "rss_after_warmup_mb", "rss_end_mb", "rss_growth_after_warmup_pct", "stop_s", "processes_left")
    rows = [[str(getattr(run, column)) for column in columns] for run in runs]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    if args.json:
        Path(args.json).write_text(json.dumps({"concurrency": args.concurrency, "host": HOST,
                                               "runs": [asdict(run) for run in runs]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
