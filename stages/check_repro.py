"""`filo check-repro`: does a fresh run reproduce the committed metrics within the promised tolerance?

Run it after `dvc repro` in the folder of the profile's dvc.yaml (the repository root for the
demo). Every metrics file the pipeline declares is compared with its committed version, value by
value: floats within the tolerance, every other value equal. Exit 0 when all agree, 1 when one
does not, 2 when the comparison cannot be made (not a git checkout, no dvc.yaml, bad JSON).
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """CLI entry: print the comparison table and the verdict."""
    from filo.reproducibility import check_reproduction, format_report

    comparisons = check_reproduction(args.folder, rev=args.rev, tolerance=args.tolerance)
    print(format_report(comparisons, rev=args.rev, tolerance=args.tolerance))
    return 0 if all(item.ok for item in comparisons) else 1


def _tolerance(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"the tolerance must be a number >= 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `check-repro` subcommand."""
    from filo.kernels import REPRODUCIBLE_METRICS_ABS_TOL

    parser = subparsers.add_parser(
        "check-repro",
        help="compare a fresh run's metrics with the committed ones, within the promised tolerance",
        description=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--folder", default=".", help="the DVC project folder holding dvc.yaml (default: .)")
    parser.add_argument("--rev", default="HEAD", help="the git revision holding the reference metrics (default: HEAD)")
    parser.add_argument("--tolerance", type=_tolerance, default=REPRODUCIBLE_METRICS_ABS_TOL,
                        help="largest absolute difference allowed for a float metric (default: "
                        f"{REPRODUCIBLE_METRICS_ABS_TOL:g}, filo.kernels.REPRODUCIBLE_METRICS_ABS_TOL)")
    parser.set_defaults(func=run)
