"""MLflow helpers shared by the stages: where runs go, how a run starts, how files are logged.

The tracking URI is `MLFLOW_TRACKING_URI` when set, else a SQLite store `mlflow.db` in the
current working directory (the repository root when stages run from there). For a SQLite
store, new experiments keep their artifacts in `mlartifacts/` next to the database file,
so a run never writes outside the store's folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from filo.io import sha256_file

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_SQLITE_PREFIX = "sqlite:///"


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
    from mlflow.exceptions import MlflowException  # kept lazy: imported at CLI start-up

    try:
        client.get_run(run_id)
    except MlflowException:
        return None
    return run_id


@contextlib.contextmanager
def start_run(experiment: str, run_name: str | None = None,
              tags: Mapping[str, str] | None = None, *, run_id: str | None = None) -> Iterator[Any]:
    """Open an MLflow run in `experiment` (created if missing) and make it the active run.

    Yields the `mlflow.ActiveRun`; inside the block the module-level `mlflow.log_*`
    functions log to it. The run ends FINISHED on success and FAILED on an exception.
    `run_id` reopens an earlier run (e.g. a resumed training) when the store still has it;
    otherwise a new run starts.
    """
    import mlflow  # kept lazy: imported at CLI start-up

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = _experiment_id(client, uri, experiment)
    resumed = _existing_run_id(client, run_id)
    with mlflow.start_run(run_id=resumed, experiment_id=None if resumed else experiment_id,
                          run_name=None if resumed else run_name, tags=dict(tags or {})) as run:
        yield run


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
    import mlflow  # kept lazy: imported at CLI start-up

    file_path = Path(path)
    digest = sha256_file(file_path)
    mlflow.log_artifact(str(file_path), artifact_path=artifact_path)
    mlflow.set_tag(f"sha256.{file_path.name}", digest)
    return digest
