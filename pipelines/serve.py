"""Serve the filo pipeline as a Prefect deployment on a cron schedule (one command, runs until stopped).

    python -m filo.pipelines.serve --cron "0 2 * * *"

starts a long-lived process that registers the deployment ``filo-pipeline/<name>`` with
the Prefect API (``$PREFECT_API_URL``, e.g. a ``prefect server start``; without it Prefect
runs a temporary local server) and executes a pipeline run at every tick of the
schedule. Paths are resolved against the directory the command is started in. At most
one run executes at a time, since runs share their output folder.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEFAULT_CRON = "0 2 * * *"
DEFAULT_NAME = "nightly"


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


def main(argv: Sequence[str] | None = None) -> None:
    """Build the deployment from the command line and serve it until interrupted."""
    from prefect import serve

    args = parse_args(argv)
    serve(build_deployment(name=args.name, cron=args.cron, timezone=args.timezone, parameters=flow_parameters(args)))


if __name__ == "__main__":
    main()
