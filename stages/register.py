"""`filo register`: register trained+evaluated models as one MLflow model version and gate its promotion.

Give one or more directions, each as a checkpoint (`filo train`), the metrics.json and
verdict.json `filo evaluate` wrote for it on the other dataset, and the descriptions
artifact it was evaluated with: repeat --model/--metrics/--verdict/--descriptions once per
direction, in the same order. The new version gets alias `champion` when it beats the
current champion on the gate (no shared direction regresses, one improves), else
`challenger`; the decision and its reason are printed, logged and tagged on the version.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """CLI entry: register, promote, print the result as JSON."""
    from filo.errors import FiloError
    from filo.registry.bundle import DirectionFiles
    from filo.registry.promotion import Gate
    from filo.registry.registration import register_bundle

    groups = [args.model, args.metrics, args.verdict, args.descriptions]
    if len({len(group) for group in groups}) != 1:
        raise FiloError(
            f"give --model, --metrics, --verdict and --descriptions once per direction, in the same order; got "
            f"{len(args.model)}, {len(args.metrics)}, {len(args.verdict)} and {len(args.descriptions)}"
        )
    directions = [DirectionFiles(*files) for files in zip(*groups)]
    gate = Gate(tuple(name.strip() for name in args.gate_metrics.split(",") if name.strip()))
    result = register_bundle(directions, name=args.name, experiment=args.experiment, gate=gate,
                             dvc_lock=args.dvc_lock, out=args.out)
    print(json.dumps(result.as_dict(), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `register` subcommand."""
    from filo.registry.promotion import DEFAULT_GATE_METRICS

    parser = subparsers.add_parser(
        "register",
        help="register evaluated models as a new MLflow model version; promote it to champion or challenger",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, action="append", required=True, help="trained checkpoint (repeat)")
    parser.add_argument("--metrics", type=Path, action="append", required=True,
                        help="its metrics.json from `filo evaluate` (repeat)")
    parser.add_argument("--verdict", type=Path, action="append", required=True,
                        help="its verdict.json from `filo evaluate` (repeat)")
    parser.add_argument("--descriptions", type=Path, action="append", required=True,
                        help="descriptions artifact of its evaluation dataset (repeat)")
    parser.add_argument("--name", default="filo", help="registered model name (default: %(default)s)")
    parser.add_argument("--experiment", default="filo", help="MLflow experiment of the run (default: %(default)s)")
    parser.add_argument("--gate-metrics", default=",".join(DEFAULT_GATE_METRICS),
                        help="mean metrics averaged into the gate value (default: %(default)s)")
    parser.add_argument("--dvc-lock", type=Path, default=Path("dvc.lock"),
                        help="dvc.lock whose md5s identify the inputs (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="also write the registration record here (e.g. a DVC out): "
                        "name, gate values and input hashes; no version, run id or git state")
    parser.set_defaults(func=run)
