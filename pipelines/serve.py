"""Serve the filo pipeline as a Prefect deployment on a cron schedule (one command, runs until stopped).

    python -m filo.pipelines.serve --cron "0 2 * * *"

starts a long-lived process that registers the deployment ``filo-pipeline/<name>`` with
the Prefect API (``$PREFECT_API_URL``, e.g. a ``prefect server start``; without it Prefect
runs a temporary local server) and executes a pipeline run at every tick of the
schedule. Paths are resolved against the directory the command is started in. At most
one run executes at a time, since runs share their output folder.

Ctrl-C and SIGTERM stop it the same way: the runner cancels the flow run in progress
(marked Cancelled in Prefect), pauses the schedule and returns; whatever it started and
is still alive after `STOP_GRACE_S` is killed, so no process outlives the command.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import signal
import threading
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEFAULT_CRON = "0 2 * * *"
DEFAULT_NAME = "nightly"
STOP_GRACE_S = 5.0
"""Seconds the runner gets, once asked to stop, to cancel its flow run and return; then its processes are killed."""
KILL_GRACE_S = 2.0
"""Seconds a leftover process gets between SIGTERM and SIGKILL."""

logger = logging.getLogger(__name__)


def build_deployment(
    *,
    name: str = DEFAULT_NAME,
    cron: str = DEFAULT_CRON,
    timezone: str = "UTC",
    parameters: dict[str, Any] | None = None,
) -> RunnerDeployment:
    """The pipeline's deployment: `filo_pipeline` with `parameters`, on `cron` in `timezone`, one run at a time."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from .flows import filo_pipeline

    return filo_pipeline.to_deployment(
        name=name,
        schedules=[Cron(cron, timezone=timezone)],
        parameters=parameters or {},
        concurrency_limit=1,
        description="filo: data → index → describe → boxes → train → evaluate, both directions",
        tags=["filo"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def flow_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Flow parameters from the command line, with paths made absolute."""
    parameters: dict[str, Any] = {
        "params_file": str(Path(args.params_file).resolve()),
        "root": str(Path(args.root).resolve()),
        "shards": args.shards,
        "workers": args.workers,
    }
    if args.dask_address:
        parameters["dask_address"] = args.dask_address
    if args.no_register:
        parameters["register_model"] = False
    return parameters


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of `python -m filo.pipelines.serve`."""
    parser = argparse.ArgumentParser(
        prog="python -m filo.pipelines.serve",
        description="Serve the filo pipeline flow on a cron schedule until interrupted (Ctrl-C).",
    )
    parser.add_argument("--cron", default=DEFAULT_CRON, help="cron schedule (default: %(default)r)")
    parser.add_argument("--timezone", default="UTC", help="time zone of the schedule (default: %(default)s)")
    parser.add_argument("--name", default=DEFAULT_NAME, help="deployment name (default: %(default)s)")
    parser.add_argument("--params-file", default="params.yaml",
                        help="the profile's params (demo: %(default)s; paper: profiles/paper/params.yaml)")
    parser.add_argument("--root", default="runs/prefect", help="artifact folder of the runs (default: %(default)s)")
    parser.add_argument("--shards", type=int, default=2, help="shards per fan-out (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers (default: %(default)s)")
    parser.add_argument("--dask-address", help="existing Dask scheduler (default: $FILO_DASK_ADDRESS, else local)")
    parser.add_argument("--no-register", action="store_true",
                        help="do not register the evaluated models in the MLflow registry")
    return parser.parse_args(argv)


def end_descendants(grace_s: float = KILL_GRACE_S) -> list[int]:
    """Terminate every process this one started (and theirs), killing those still alive after `grace_s`; their pids."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        with suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return [child.pid for child in children]


async def cancel_unfinished_runs(client: Any, deployment_id: Any, reason: str) -> list[str]:
    """Mark every Pending, Running or Cancelling flow run of the deployment Cancelled in Prefect; their names."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
            any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]))),
    )
    for run in runs:
        await client.set_flow_run_state(run.id, Cancelled(message=reason), force=True)
    return [run.name for run in runs]


def serve_until_stopped(deployment: RunnerDeployment) -> int:
    """Serve `deployment` until Ctrl-C or SIGTERM; the exit status (128 + the signal's number, 0 otherwise).

    Both signals take Prefect's graceful path, after marking every unfinished run of the
    deployment Cancelled: the runner kills its flow run processes and pauses the schedule. A watchdog ends every process left after `STOP_GRACE_S` and exits, so a stuck
    shutdown cannot keep the command, or its flow runs, alive.
    """
    import asyncio

    from prefect.runner import Runner

    received: list[int] = []

    def give_up() -> None:
        logger.error("the runner did not stop within %.0f s; killing what it started", STOP_GRACE_S)
        end_descendants()
        os._exit(128 + received[0])

    class StoppingRunner(Runner):
        def handle_sigterm(self, number: int = signal.SIGTERM, *args: Any, **kwargs: Any) -> None:
            if not received:
                received.append(int(number))
                watchdog = threading.Timer(STOP_GRACE_S, give_up)
                watchdog.daemon = True
                watchdog.start()
            super().handle_sigterm(number, *args, **kwargs)

        async def astop(self) -> None:
            reason = f"python -m filo.pipelines.serve stopped by {signal.Signals(received[0]).name}" if received \
                else "python -m filo.pipelines.serve stopped"
            cancelled = await asyncio.wait_for(cancel_unfinished_runs(self._client, deployment_id, reason),
                                               timeout=STOP_GRACE_S / 2)
            if cancelled:
                logger.warning("marked flow run(s) %s Cancelled: %s", cancelled, reason)
            await super().astop()

    def end_leftovers() -> None:
        leftover = end_descendants()
        if leftover:
            logger.warning("ended %d leftover process(es) of the runner: %s", len(leftover), leftover)

    atexit.register(end_leftovers)  # registered first, so it runs after Prefect stops its temporary server
    runner = StoppingRunner(pause_on_shutdown=True)
    deployment_id = runner.add_deployment(deployment)
    signal.signal(signal.SIGINT, runner.handle_sigterm)
    print(f"serving filo-pipeline/{deployment.name}; Ctrl-C or SIGTERM stops it", flush=True)
    asyncio.run(runner.start())
    return 128 + received[0] if received else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Build the deployment from the command line and serve it until interrupted; the exit status."""
    args = parse_args(argv)
    return serve_until_stopped(build_deployment(name=args.name, cron=args.cron, timezone=args.timezone,
                                                parameters=flow_parameters(args)))


if __name__ == "__main__":
    raise SystemExit(main())
