"""`filo evaluate`: zero-shot evaluation of a FiLo checkpoint on a dataset's test split.

Argument parsing only, over `filo.evaluation.evaluate` (settings: params section
`evaluate`, `EvaluationSettings`; every field is also a flag). Writes metrics, verdict,
scores, per-category tables and plots into --out-dir and logs them to MLflow.
"""

from __future__ import annotations

import argparse

from filo.evaluation.settings import EvaluationSettings
from filo.settings import (
    InputPath,
    OutputPath,
    add_params_argument,
    add_settings_arguments,
    settings_from_args,
)


def run(args: argparse.Namespace) -> int:
    """CLI entry: evaluate and print where the results went and the mean metrics."""
    from filo.evaluation.evaluate import evaluate

    result = evaluate(args.model, args.manifest, args.descriptions, args.out_dir, boxes_path=args.boxes,
                      settings=settings_from_args(args, EvaluationSettings))
    print(f"wrote evaluation to {result.out_dir}")
    for key, value in result.metrics.mean.items():
        print(f"  mean {key}: {100 * value:.1f}")
    confusion = result.verdict.confusion
    print(
        f"  verdict ({result.verdict.rule}): anomalous when score >= {result.verdict.threshold:.6g}; "
        f"tp {confusion['tp']} fp {confusion['fp']} tn {confusion['tn']} fn {confusion['fn']}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics, verdict threshold, reports and plots of a model on a dataset's test split",
        description="Score every test image of --manifest with --model and write metrics (per category and "
        "their mean), a verdict threshold, tables and plots to --out-dir. Refuses a model trained on any of "
        "the manifest's categories (zero-shot protocol) unless --allow-overlap.",
    )
    parser.add_argument("--model", type=InputPath, required=True, help="FiLo checkpoint (.pt)")
    parser.add_argument("--manifest", type=InputPath, required=True, help="manifest Parquet of the target dataset")
    parser.add_argument("--descriptions", type=InputPath, required=True, help="descriptions JSON (`filo describe`)")
    parser.add_argument(
        "--boxes", type=InputPath, help="boxes Parquet (`filo boxes`); without it positions are averaged, no suppression"
    )
    parser.add_argument("--out-dir", type=OutputPath, required=True, help="output folder (replaced when complete)")
    add_params_argument(parser)
    add_settings_arguments(parser.add_argument_group("evaluation settings (params section `evaluate`)"),
                           EvaluationSettings)
    parser.set_defaults(func=run)
