"""Which Dask cluster the fan-out subflows run their shard tasks on.

By default a local cluster is started for the duration of a pipeline run (`workers`
worker processes, one thread each, no dashboard) and every fan-out subflow uses it.
Point the flows at an existing cluster with the `dask_address` flow parameter or the
``FILO_DASK_ADDRESS`` environment variable (e.g. ``tcp://scheduler:8786``); its workers
must have filo installed and see the same files (they read the paths in manifests).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from filo.errors import FiloError

if TYPE_CHECKING:
    from prefect_dask import DaskTaskRunner

DASK_ADDRESS_ENV = "FILO_DASK_ADDRESS"


def resolve_dask_address(address: str | None) -> str | None:
    """The cluster address to use: `address` if given, else ``$FILO_DASK_ADDRESS``, else None (local)."""
    return address or os.environ.get(DASK_ADDRESS_ENV) or None


@contextlib.contextmanager
def dask_cluster(*, workers: int = 2, address: str | None = None, processes: bool = True) -> Iterator[str]:
    """Yield the address of the cluster to fan out on: an existing one, or a local one closed on exit.

    `workers` and `processes` shape the local cluster only: `processes=False` runs the
    workers as threads of this process (faster to start; tasks share the GIL).
    """
    from distributed import LocalCluster

    resolved = resolve_dask_address(address)
    if resolved is not None:
        yield resolved
        return
    if workers < 1:
        raise FiloError(f"a local Dask cluster needs at least 1 worker, got workers={workers}")
    with _restored_environment(), LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@contextlib.contextmanager
def _restored_environment() -> Iterator[None]:
    """Undo the variables a local cluster sets in this process (OMP_NUM_THREADS=1, ...).

    distributed writes its workers' settings into the parent's os.environ; left there, they
    would make every later subprocess (training, `dvc repro`) run single-threaded.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def dask_task_runner(address: str) -> DaskTaskRunner:
    """A Prefect task runner that submits tasks to the Dask scheduler at `address`."""
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address)


@contextlib.contextmanager
def working_directory(path: str | os.PathLike) -> Iterator[None]:
    """Run the block with `path` as the process's working directory (restored after it)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
