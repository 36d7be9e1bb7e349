"""MLflow helpers shared by the stages: where runs go, how a run starts, how files are logged.

The tracking URI is `MLFLOW_TRACKING_URI` when set, else a SQLite store `mlflow.db` in the
current working directory (the repository root when stages run from there). For a SQLite
store, new experiments keep their artifacts in `mlartifacts/` next to the database file,
so a run never writes outside the store's folder.

Run status: a run ends FINISHED on success, FAILED on an exception and KILLED when the
process is interrupted (Ctrl-C, or SIGTERM/SIGHUP, which the `filo` CLI turns into
`filo.errors.Interrupted`). A SIGKILL cannot be caught, so every run is tagged with the
process that owns it (`filo.process` = host:pid:start-time); the next `start_run` in the
experiment marks KILLED every RUNNING run whose owner on this host no longer exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from filo.errors import Interrupted
from filo.io import sha256_file

logger = logging.getLogger(__name__)

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_SQLITE_PREFIX = "sqlite:///"
OWNER_TAG = "filo.process"


def tracking_uri() -> str:
    """The MLflow tracking URI: `$MLFLOW_TRACKING_URI`, else `sqlite:///<cwd>/mlflow.db`."""
    from_env = os.environ.get(TRACKING_URI_ENV, "").strip()
    if from_env:
        return from_env
    return f"{_SQLITE_PREFIX}{Path.cwd() / 'mlflow.db'}"


def _artifact_location(uri: str, experiment: str) -> str | None:
    """Artifact folder for a new experiment: next to a SQLite database, else MLflow's default."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    database = Path(uri[len(_SQLITE_PREFIX):])
    return (database.parent / "mlartifacts" / experiment).resolve().as_uri()


def _experiment_id(client: Any, uri: str, experiment: str) -> str:
    """Id of `experiment`, created (with its artifact location) when it does not exist yet."""
    existing = client.get_experiment_by_name(experiment)
    if existing is not None:
        return existing.experiment_id
    return client.create_experiment(experiment, artifact_location=_artifact_location(uri, experiment))


def _existing_run_id(client: Any, run_id: str | None) -> str | None:
    """`run_id` when that run exists in the current store, else None."""
    if run_id is None:
        return None
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException:
        return None
    return run_id


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux /proc), or None when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity(pid: int | None = None) -> str:
    """`host:pid:start-time` of a process (this one by default): unique even when pids are reused."""
    pid = os.getpid() if pid is None else pid
    return f"{_host()}:{pid}:{_start_time(pid) or ''}"


def owner_is_gone(identity: str) -> bool:
    """True when the process `identity` names ran on this host and no longer exists; False when unsure."""
    parts = identity.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid, started = parts[0], int(parts[1]), parts[2]
    if host != _host():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    now = _start_time(pid)
    return bool(started) and now is not None and now != started


def repair_stale_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs of the experiment whose owning process (on this host) is gone; their ids."""
    repaired = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        owner = run.data.tags.get(OWNER_TAG)
        if owner and owner_is_gone(owner):
            client.set_terminated(run.info.run_id, status="KILLED")
            logger.warning("MLflow run %s was left RUNNING by a process that no longer exists (%s); marked KILLED",
                           run.info.run_id, owner)
            repaired.append(run.info.run_id)
    return repaired


@contextlib.contextmanager
def start_run(experiment: str, run_name: str | None = None,
              tags: Mapping[str, str] | None = None, *, run_id: str | None = None) -> Iterator[Any]:
    """Open an MLflow run in `experiment` (created if missing) and make it the active run.

    Yields the `mlflow.ActiveRun`; inside the block the module-level `mlflow.log_*`
    functions log to it. The run ends FINISHED on success, KILLED when interrupted
    (KeyboardInterrupt, `Interrupted`) and FAILED on any other exception. Stale RUNNING
    runs of the experiment are repaired first (`repair_stale_runs`).
    `run_id` reopens an earlier run (e.g. a resumed training) when the store still has it;
    otherwise a new run starts.
    """
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = _experiment_id(client, uri, experiment)
    repair_stale_runs(client, experiment_id)
    resumed = _existing_run_id(client, run_id)
    run = mlflow.start_run(run_id=resumed, experiment_id=None if resumed else experiment_id,
                           run_name=None if resumed else run_name,
                           tags={**dict(tags or {}), OWNER_TAG: process_identity()})
    try:
        yield run
    except (KeyboardInterrupt, Interrupted):
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping → flat `{"a.b": "value"}` strings, the form MLflow params take."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def log_file_artifact(path: str | os.PathLike, artifact_path: str | None = None) -> str:
    """Log a file as an artifact of the active run and tag the run with its sha256.

    The tag is `sha256.<file name>`; returns the hex digest.
    """
    import mlflow

    file_path = Path(path)
    digest = sha256_file(file_path)
    mlflow.log_artifact(str(file_path), artifact_path=artifact_path)
    mlflow.set_tag(f"sha256.{file_path.name}", digest)
    return digest
