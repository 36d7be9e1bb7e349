"""`filo model`: create a FiLo checkpoint from a preset config, and describe checkpoints."""

from __future__ import annotations

import argparse
import json

import yaml

from filo.model.config import PRESETS


def _parse_overrides(pairs: list[str]) -> dict:
    from filo.errors import FiloError

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise FiloError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _run_init(args: argparse.Namespace) -> int:
    from filo.model.checkpoint import write_initial_checkpoint

    path = write_initial_checkpoint(args.preset, args.out, _parse_overrides(args.set), seed=args.seed)
    print(f"wrote untrained {args.preset} FiLo checkpoint to {path}")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from filo.model.checkpoint import checkpoint_summary

    print(json.dumps(checkpoint_summary(args.checkpoint), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `filo model {init,info}`."""
    parser = subparsers.add_parser("model", help="create or inspect FiLo checkpoints")
    commands = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    init = commands.add_parser("init", help="write an untrained checkpoint for a preset config")
    init.add_argument("--preset", choices=PRESETS, default="tiny", help="paper: ViT-L-14-336@518; tiny: demo")
    init.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override a FiLoConfig field (YAML value), e.g. --set taps=paper")
    init.add_argument("--seed", type=int, default=0, help="seed of the trainable weights' initialization")
    init.add_argument("--out", required=True, help="checkpoint path to write (e.g. models/untrained.pt)")
    init.set_defaults(func=_run_init)

    info = commands.add_parser("info", help="print a checkpoint's config and size")
    info.add_argument("checkpoint")
    info.set_defaults(func=_run_info)
