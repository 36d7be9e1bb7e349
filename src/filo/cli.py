"""The `filo` console entry point: one subcommand per pipeline stage.

Every module in `filo.stages` that defines `register(subparsers)` is a subcommand:
`register` adds its parser and sets `func(args) -> int | None` on the namespace.
Stage modules import heavy libraries (torch, open_clip, ...) inside their functions
so `filo --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import filo.stages
from filo import __version__
from filo.errors import FiloError


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
    try:
        result = args.func(args)
    except FiloError as error:
        print(f"filo {args.command}: error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
