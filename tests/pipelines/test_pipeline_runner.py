"""Choosing the Dask cluster: an existing one by parameter or environment, else a local one for the run."""

from __future__ import annotations

import pytest
from filo.pipelines.runner import DASK_ADDRESS_ENV, dask_cluster, dask_task_runner, resolve_dask_address

from filo.errors import FiloError


def test_the_parameter_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://from-env:8786")

    assert resolve_dask_address("tcp://given:8786") == "tcp://given:8786"
    assert resolve_dask_address(None) == "tcp://from-env:8786"


def test_no_address_anywhere_means_a_local_cluster(monkeypatch):
    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)

    assert resolve_dask_address(None) is None


def test_an_existing_cluster_is_used_as_given_and_left_running(monkeypatch):
    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://scheduler.example:8786")

    with dask_cluster(workers=0) as address:
        assert address == "tcp://scheduler.example:8786"


def test_a_local_cluster_has_the_asked_workers_and_is_closed_on_exit(monkeypatch):
    from distributed import Client

    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    with dask_cluster(workers=2, processes=False) as address, Client(address) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
    with pytest.raises(OSError), Client(address, timeout=1):
        pass


def test_a_local_cluster_needs_a_worker(monkeypatch):
    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)

    with pytest.raises(FiloError, match="at least 1 worker, got workers=0"), dask_cluster(workers=0):
        pass


def test_the_task_runner_submits_to_the_given_scheduler():
    assert dask_task_runner("tcp://scheduler.example:8786").address == "tcp://scheduler.example:8786"


def test_a_local_cluster_leaves_this_process_environment_as_it_was(monkeypatch):
    import os

    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = dict(os.environ)
    with dask_cluster(workers=1, processes=True):
        pass
    assert dict(os.environ) == before
