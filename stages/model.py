"""`filo model`: create a FiLo checkpoint from a preset config, and describe checkpoints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from filo.model.config import PRESETS


def init_model(preset: str, out: str | Path, overrides: dict[str, Any] | None = None, *, seed: int = 0) -> Path:
    """Write an untrained FiLo checkpoint (heads and prompt learners initialized from `seed`)."""
    import torch

    from filo.model.checkpoint import save_checkpoint
    from filo.model.config import preset_config
    from filo.model.filo import FiLo

    config = preset_config(preset, overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FiLo(config)
    save_checkpoint(model, out)
    return Path(out)


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    from filo.errors import FiloError

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise FiloError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _run_init(args: argparse.Namespace) -> int:
    path = init_model(args.preset, args.out, _parse_overrides(args.set), seed=args.seed)
    print(f"wrote untrained {args.preset} FiLo checkpoint to {path}")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    import torch

    from filo.model.checkpoint import read_payload

    payload = read_payload(Path(args.checkpoint))
    state = payload.get("state_dict") or payload.get("filo") or {}
    summary = {
        "format": payload.get("format", "authors" if "filo" in payload else "unknown"),
        "config": payload.get("config"),
        "tensors": len(state),
        "parameters": int(sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))),
    }
    print(json.dumps(summary, indent=2))
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
