"""MLflow helpers shared by the stages: where runs go, how a run starts, how files are logged, stage runs.

The tracking URI is `MLFLOW_TRACKING_URI` when set, else a SQLite store `mlflow.db` in the
current working directory (the repository root when stages run from there). For a SQLite
store, new experiments keep their artifacts in `mlartifacts/` next to the database file,
so a run never writes outside the store's folder.

Run status: a run ends FINISHED on success, FAILED on an exception and KILLED when the
process is interrupted (Ctrl-C, or SIGTERM/SIGHUP, which the `filo` CLI turns into
`filo.errors.Interrupted`). A SIGKILL cannot be caught, so every run is tagged with the
process that owns it (`filo.process` = host:pid:start-time); the next `start_run` in the
experiment marks KILLED every RUNNING run whose owner on this host no longer exists.

Every pipeline stage (a `filo` command run by `dvc repro`, which sets ``DVC_STAGE``, or by
the Prefect flow) is recorded as one run of the experiment `STAGES_EXPERIMENT` by
`stage_run`: its settings as params, its code version, and each input and output path
with its DVC md5 as tags (``input.<path>``, ``output.<path>``); the inputs its declaration
marks as datasets (manifests, descriptions, boxes: `filo.stagespec`) are also logged as MLflow
dataset inputs whose digest is that md5. Runs a stage
opens itself (training, evaluation, registration) are nested under its stage run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import subprocess
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from filo.errors import Interrupted
from filo.io import sha256_file

logger = logging.getLogger(__name__)

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_SQLITE_PREFIX = "sqlite:///"
STAGES_EXPERIMENT = "filo-stages"
"""The experiment holding one run per pipeline stage execution."""
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
    from mlflow.exceptions import MlflowException  # kept lazy: imported at CLI start-up

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
    import mlflow  # kept lazy: imported at CLI start-up

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = _experiment_id(client, uri, experiment)
    repair_stale_runs(client, experiment_id)
    resumed = _existing_run_id(client, run_id)
    run = mlflow.start_run(run_id=resumed, experiment_id=None if resumed else experiment_id,
                           run_name=None if resumed else run_name,
                           tags={**dict(tags or {}), OWNER_TAG: process_identity()},
                           nested=mlflow.active_run() is not None)
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
    import mlflow  # kept lazy: imported at CLI start-up

    file_path = Path(path)
    digest = sha256_file(file_path)
    mlflow.log_artifact(str(file_path), artifact_path=artifact_path)
    mlflow.set_tag(f"sha256.{file_path.name}", digest)
    return digest


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_md5(path: str | os.PathLike) -> str:
    """DVC's md5 of a file, or of a folder ("<md5 of its sorted file list>.dir"), as dvc.lock records it."""
    path = Path(path)
    if not path.is_dir():
        return _md5_file(path)
    entries = sorted(
        ((file.relative_to(path).parts, file) for file in path.rglob("*") if file.is_file()), key=lambda e: e[0]
    )
    listing = [{"md5": _md5_file(file), "relpath": "/".join(parts)} for parts, file in entries]
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def code_version(repo: str | os.PathLike = ".") -> dict[str, str]:
    """The filo version and, inside a git repository, its HEAD commit and whether tracked files differ."""
    import filo

    version = {"code.filo_version": filo.__version__}
    commit, dirty = git_state(repo)
    if commit is not None:
        version.update({"code.git_commit": commit, "code.git_dirty": str(dirty).lower()})
    return version


def git_state(cwd: str | os.PathLike = ".") -> tuple[str | None, bool | None]:
    """(HEAD commit, tracked files modified?) of the repository containing `cwd`; (None, None) outside one."""
    commit = _git(["rev-parse", "HEAD"], Path(cwd))
    if commit is None:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], Path(cwd))
    return commit, bool(status)


def _git(args: list[str], cwd: Path) -> str | None:
    """Output of a read-only git command in `cwd`, or None when git or the repository is absent."""
    try:
        completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _log_dataset(role: str, path: Path, digest: str) -> None:
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    dataset = MetaDataset(LocalArtifactDatasetSource(path.as_posix()), name=path.as_posix(), digest=digest)
    mlflow.log_input(dataset, context=role)


@contextlib.contextmanager
def stage_run(
    stage: str,
    command: str,
    *,
    inputs: Mapping[str, list[Path]],
    outputs: Mapping[str, list[Path]],
    datasets: Collection[str] = (),
    settings: Callable[[], list[Any]],
) -> Iterator[Any]:
    """Record one execution of pipeline stage `stage` (see the module docstring) around the block.

    `inputs`/`outputs`: argument name -> paths (`filo.stagespec.StageSpec.recorded` derives them from
    the stage's declaration); the inputs named in `datasets` are also logged as MLflow dataset
    inputs; `settings` is called after the block for the
    settings objects the stage loaded (their fields become params). The run ends FINISHED,
    or FAILED when the block raises.
    """
    import dataclasses

    import mlflow

    with start_run(STAGES_EXPERIMENT, run_name=stage,
                   tags={"filo.stage": stage, "filo.command": command, **code_version()}) as run:
        for role, paths in inputs.items():
            for path in paths:
                if not path.exists():
                    continue
                digest = dvc_md5(path)
                mlflow.set_tag(f"input.{path.as_posix()}", f"md5:{digest}")
                if role in datasets:
                    _log_dataset(role, path, digest)
        yield run
        for loaded in settings():
            section = getattr(loaded, "SECTION", type(loaded).__name__)
            mlflow.log_params(flatten_params(dataclasses.asdict(loaded), prefix=f"{section}."))
        for paths in outputs.values():
            for path in paths:
                written = [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]
                mlflow.set_tags({f"output.{item.as_posix()}": f"md5:{dvc_md5(item)}" for item in written
                                 if item.exists() and (item == path or item.is_file())})


def producing_stage_run(path: str | os.PathLike) -> str | None:
    """The id of the latest stage run whose output tag matches `path`'s current content (None if none did)."""
    import mlflow

    path = Path(path)
    uri = tracking_uri()
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(STAGES_EXPERIMENT)
    if experiment is None or not path.exists():
        return None
    wanted = f"md5:{dvc_md5(path)}"
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`output.{path.as_posix()}` = '{wanted}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None
