"""`filo register`: register trained+evaluated models as one MLflow model version and gate its promotion.

Give one or more directions, each as a checkpoint (`filo train`), the metrics.json and
verdict.json `filo evaluate` wrote for it on the other dataset, and the descriptions
artifact it was evaluated with: repeat --model/--metrics/--verdict/--descriptions once per
direction, in the same order. The new version gets alias `champion` when it beats the
current champion on the gate (no shared direction regresses, one improves), else
`challenger`; the decision and its reason are printed, logged and tagged on the version.
Argument parsing only, over `filo.registry.registration` (settings: params section `register`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from filo.registry.settings import RegisterSettings
from filo.settings import (
    InputPath,
    OutputPath,
    add_params_argument,
    add_settings_arguments,
    settings_from_args,
)


def run(args: argparse.Namespace) -> int:
    """CLI entry: register, promote, print the result as JSON."""
    from filo.registry.bundle import direction_files
    from filo.registry.registration import register_bundle

    directions = direction_files(args.model, args.metrics, args.verdict, args.descriptions)
    from filo.errors import FiloError

    target_manifests, target_descriptions = args.target_manifest or [], args.target_descriptions or []
    if len(target_manifests) != len(target_descriptions):
        raise FiloError(f"give --target-manifest and --target-descriptions once per extra target, in the same order; "
                        f"got {len(target_manifests)} and {len(target_descriptions)}")
    result = register_bundle(directions, settings_from_args(args, RegisterSettings),
                             calibration_manifests=args.calibration_manifest or (),
                             targets=list(zip(target_manifests, target_descriptions)), out=args.out,
                             exports=args.export or ())
    print(json.dumps(result.as_dict(), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `register` subcommand."""
    parser = subparsers.add_parser(
        "register",
        help="register evaluated models as a new MLflow model version; promote it to champion or challenger",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=InputPath, action="append", required=True, help="trained checkpoint (repeat)")
    parser.add_argument("--metrics", type=InputPath, action="append", required=True,
                        help="its metrics.json from `filo evaluate` (repeat)")
    parser.add_argument("--verdict", type=InputPath, action="append", required=True,
                        help="its verdict.json from `filo evaluate` (repeat)")
    parser.add_argument("--descriptions", type=InputPath, action="append", required=True,
                        help="descriptions artifact of its evaluation dataset (repeat)")
    parser.add_argument("--calibration-manifest", type=InputPath, action="append",
                        help="manifest of a direction's evaluation dataset, whose good test images calibrate its "
                        "verdict when register.calibrate_fpr is set (repeat, in the same order)")
    parser.add_argument("--target-manifest", type=InputPath, action="append",
                        help="manifest of an extra target dataset (e.g. your product): every direction's threshold "
                        "is calibrated on its good test images at register.calibrate_fpr and recorded (repeat)")
    parser.add_argument("--target-descriptions", type=InputPath, action="append",
                        help="descriptions artifact of that target (repeat, in the same order)")
    parser.add_argument("--export", type=Path, action="append",
                        help="a `filo export` folder of one of the checkpoints: the version carries it and serves "
                        "its category with onnxruntime (repeat, one per category)")
    parser.add_argument("--out", type=OutputPath, help="also write the registration record here (e.g. a DVC "
                        "out): name, gate values and input hashes; no version, run id or git state")
    add_params_argument(parser)
    add_settings_arguments(parser.add_argument_group("registration settings (params section `register`)"),
                           RegisterSettings)
    parser.set_defaults(func=run)
