"""`filo evaluate`: zero-shot evaluation of a FiLo checkpoint on a dataset's test split.

Writes metrics.json (dvc metrics), verdict.json (read by `filo predict`), scores.parquet,
a per-category table (CSV + Markdown), plots (dvc plots + PNG) into --out-dir, and logs
them to MLflow (experiment `filo` unless --experiment/--no-mlflow say otherwise).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """CLI entry: evaluate and print where the results went and the mean metrics."""
    from filo.evaluation.evaluate import EvaluationSettings, evaluate

    settings = EvaluationSettings(
        box_rule=args.box_rule,
        threshold_rule=args.threshold_rule,
        target_fpr=args.target_fpr,
        allow_overlap=args.allow_overlap,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        gallery_size=args.gallery_size,
        pro_fpr_limit=args.pro_fpr_limit,
        bins=args.bins,
        box_lambda=args.box_lambda,
        amp=args.amp,
        experiment=None if args.no_mlflow else args.experiment,
    )
    result = evaluate(args.model, args.manifest, args.descriptions, args.out_dir, boxes_path=args.boxes,
                      settings=settings)
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
    from filo.boxes.geometry import RULES
    from filo.evaluation.mlflow_log import DEFAULT_EXPERIMENT
    from filo.evaluation.verdict import THRESHOLD_RULES

    parser = subparsers.add_parser(
        "evaluate",
        help="metrics, verdict threshold, reports and plots of a model on a dataset's test split",
        description="Score every test image of --manifest with --model and write metrics (per category and "
        "their mean), a verdict threshold, tables and plots to --out-dir. Refuses a model trained on any of "
        "the manifest's categories (zero-shot protocol) unless --allow-overlap.",
    )
    parser.add_argument("--model", type=Path, required=True, help="FiLo checkpoint (.pt)")
    parser.add_argument("--manifest", type=Path, required=True, help="manifest Parquet of the target dataset")
    parser.add_argument("--descriptions", type=Path, required=True, help="descriptions JSON (`filo describe`)")
    parser.add_argument(
        "--boxes", type=Path, help="boxes Parquet (`filo boxes`); without it positions are averaged, no suppression"
    )
    parser.add_argument("--box-rule", choices=RULES, default="authors",
                        help="how boxes become pixel masks (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, required=True, help="output folder (replaced when complete)")
    parser.add_argument("--threshold-rule", choices=THRESHOLD_RULES, default="f1",
                        help="verdict threshold: F1-optimal, or a target false-positive rate (default: %(default)s)")
    parser.add_argument("--target-fpr", type=float, default=0.05,
                        help="false-positive rate on normal images for --threshold-rule fpr (default: %(default)s)")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="allow categories the model was trained on (in-domain check, not zero-shot)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per batch (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (default: %(default)s)")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--gallery-size", type=int, default=4,
                        help="best and worst images each in the gallery; 0 disables it (default: %(default)s)")
    parser.add_argument("--pro-fpr-limit", type=float, default=0.3, help="AUPRO FPR limit (default: %(default)s)")
    parser.add_argument("--bins", type=int, help="quantise pixel scores into BINS bins (approximate); default exact")
    parser.add_argument("--box-lambda", type=float,
                        help="factor for map pixels outside the kept boxes (default: the checkpoint's, 0.7)")
    parser.add_argument("--amp", action="store_true",
                        help="bf16 autocast on CUDA (faster; maps differ slightly, see benchmarks/README.md)")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment (default: %(default)s)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.set_defaults(func=run)
