"""The `filo` console entry point: one subcommand per pipeline stage.

Every module in `filo.stages` that defines `register(subparsers)` is a subcommand:
`register` adds its parser and sets `func(args) -> int | None` on the namespace. A pipeline
stage's parser is derived from its declaration (`filo.stagespec.StageSpec.register`), which
lives next to its library function. Stage modules import heavy libraries (torch, open_clip,
...) inside their functions so `filo --help` stays fast.

Exit codes: 0 success, 1 some inputs failed (stage-specific), 2 a `FiloError` (printed as
one line, without a traceback; a full disk is one too), 128 + signal number when
interrupted. SIGTERM and SIGHUP raise `filo.errors.Interrupted`, like Ctrl-C raises
KeyboardInterrupt, so temporaries are removed and MLflow runs are marked KILLED.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import signal
import sys

import filo.stages
from filo import __version__
from filo.errors import FiloError, Interrupted
from filo.io import disk_full_error, is_disk_full


def _stage_modules() -> list:
    """The stage modules that provide a subcommand, in name order."""
    modules = []
    for info in sorted(pkgutil.iter_modules(filo.stages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"filo.stages.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered stage as a subcommand."""
    parser = argparse.ArgumentParser(
        prog="filo",
        description="Zero-shot industrial anomaly detection with FiLo.",
    )
    parser.add_argument("--version", action="version", version=f"filo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _stage_modules():
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `filo` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # filo's own loggers speak at INFO; libraries (open_clip, groundingdino, ...) only warn.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("filo").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    previous = _raise_on_termination()
    try:
        return _run(args)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _run(args: argparse.Namespace) -> int:
    """Call the subcommand; expected failures become one line on stderr and an exit code."""
    try:
        result = run_parsed(args, stage=os.environ.get(STAGE_ENV))
    except FiloError as error:
        print(f"filo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if not is_disk_full(error):
            raise
        print(f"filo {args.command}: error: {disk_full_error(error.filename or os.getcwd(), None)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as error:
        number = error.signal_number if isinstance(error, Interrupted) else signal.SIGINT
        print(f"filo {args.command}: interrupted by {signal.Signals(number).name}; finished outputs are intact, "
              "temporaries were removed", file=sys.stderr)
        return 128 + number
    return int(result or 0)


STAGE_ENV = "DVC_STAGE"
"""Set by `dvc repro` to the name of the stage a command runs as."""


def run_parsed(args: argparse.Namespace, *, stage: str | None = None) -> int | None:
    """Run a parsed command; as pipeline stage `stage` its execution is recorded in MLflow.

    A command declared as a stage (`filo.stagespec.StageSpec`) is recorded by its declaration
    (`StageSpec.recorded`); outside a pipeline (`stage` None: a command typed by hand), and
    for the other commands, nothing is recorded.
    """
    from filo.settings import loaded_settings
    from filo.stagespec import SPEC_DEST

    spec = getattr(args, SPEC_DEST, None)
    if stage is None or spec is None:
        return args.func(args)
    with spec.recorded(stage, spec.values(args), args.params, settings=lambda: loaded_settings(args)):
        return args.func(args)


def _raise_on_termination() -> dict:
    """Make SIGTERM and SIGHUP raise `Interrupted` (their default kills without cleanup); the previous handlers.

    Outside the main thread (e.g. a flow calling `main`) signals cannot be handled and nothing changes.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(number: int, _frame) -> None:
        raise Interrupted(number)

    return {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGHUP)}


if __name__ == "__main__":
    sys.exit(main())
