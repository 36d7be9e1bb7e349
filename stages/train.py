"""`filo train`: train FiLo (prompt learners + heads, then the adapter) on one dataset's test split.

Argument parsing only, over `filo.training.train` (settings: params section `train`,
`filo.training.TrainParams`; every field is also a flag).
"""

from __future__ import annotations

import argparse

from filo.settings import (
    InputPath,
    OutputPath,
    add_params_argument,
    add_settings_arguments,
    settings_from_args,
)
from filo.training.params import TrainParams


def _run(args: argparse.Namespace) -> int:
    from filo.training import train

    result = train(args.manifest, args.descriptions, args.out, settings_from_args(args, TrainParams),
                   eval_manifest_path=args.eval_manifest, init=args.init, resume=args.resume)
    final = {record["phase"]: record["loss"] for record in result.history}
    losses = ", ".join(f"{phase} {loss:.4f}" for phase, loss in final.items()) or "no epochs run"
    print(f"wrote {result.checkpoint} in {result.train_s:.1f}s (last epoch loss: {losses})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `filo train`."""
    parser = subparsers.add_parser(
        "train",
        help="train FiLo's prompt learners, heads and adapter",
        description="Phase 1 (prompt learners + linear/MMCI heads) then phase 2 (adapter) on the manifest's "
                    "test split; a resumable state is written after every epoch next to --out.",
    )
    parser.add_argument("--manifest", type=InputPath, required=True,
                        help="manifest of the training dataset (its test split is used)")
    parser.add_argument("--descriptions", type=InputPath, required=True, help="descriptions artifact covering its categories")
    parser.add_argument("--out", type=OutputPath, required=True, help="final checkpoint path, e.g. models/filo-mvtec.pt")
    parser.add_argument("--eval-manifest", type=InputPath,
                        help="manifest of the evaluation dataset; training refuses categories it shares")
    parser.add_argument("--init", type=InputPath, help="start from this filo checkpoint (its config replaces the preset)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>.train/last.pt when present (same params and inputs only)")
    add_params_argument(parser)
    add_settings_arguments(parser.add_argument_group("training settings (params section `train`)"), TrainParams)
    parser.set_defaults(func=_run)
