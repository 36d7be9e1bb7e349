"""Network-bound tasks retry with exponential backoff; local ones do not retry."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from filo.pipelines import tasks
from filo.pipelines.dag import pipeline_stages

from filo.data.synthetic import generate_dataset, pack_archive


def test_network_tasks_back_off_exponentially_and_local_tasks_fail_fast():
    network_task = tasks.network_stage_task
    assert network_task.retries == tasks.NETWORK_RETRIES
    delays = network_task.retry_delay_seconds
    assert delays == [tasks.NETWORK_BACKOFF_S * 2**attempt for attempt in range(tasks.NETWORK_RETRIES)]
    assert network_task.retry_jitter_factor > 0
    for local_task in (tasks.stage_task, tasks.boxes_task, tasks.score_part_task):
        assert local_task.retries == 0
    paper = Path(__file__).resolve().parents[2] / "profiles" / "paper" / "params.yaml"
    assert {stage.name for stage in pipeline_stages(paper) if stage.network} == {
        "dataset_mvtec", "dataset_visa", "describe_mvtec", "describe_visa"}


class _FlakyArchiveServer:
    """Serves one archive on 127.0.0.1, answering HTTP 503 to the first `failures` requests."""

    def __init__(self, data: bytes, failures: int) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

            def do_GET(self) -> None:
                outer.requests += 1
                if outer.requests <= failures:
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/mvtec_anomaly_detection.tar.xz"


@pytest.fixture
def flaky_archive(tmp_path) -> Iterator[tuple[_FlakyArchiveServer, str]]:
    """A tiny MVTec-layout archive behind a server that fails twice first; yields (server, sha256)."""
    dataset = generate_dataset("mvtec", tmp_path / "src", seed=0, categories=["round_part"], image_size=32,
                               n_train_good=1, n_test_good=1, n_test_per_defect=1)
    data = pack_archive(dataset, tmp_path / "mvtec_anomaly_detection.tar.xz").read_bytes()
    server = _FlakyArchiveServer(data, failures=2)
    server.thread.start()
    try:
        yield server, hashlib.sha256(data).hexdigest()
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


@pytest.mark.slow
def test_a_download_that_fails_twice_succeeds_on_the_task_retries(prefect_server, flaky_archive, tmp_path):
    from prefect import flow

    server, sha256 = flaky_archive
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"datasets": {"mvtec": {"layout": "mvtec", "source": "download",
                                                             "url": server.url, "sha256": sha256}}}))
    [stage] = [stage for stage in pipeline_stages(params) if stage.name == "dataset_mvtec"]
    download = tasks.network_stage_task.with_options(retry_delay_seconds=0)

    @flow
    def download_flow():
        download(stage, tmp_path / "run", params)

    download_flow()

    assert server.requests == 3
    assert (tmp_path / "run" / "data" / "datasets" / "mvtec" / "round_part" / "train" / "good").is_dir()
