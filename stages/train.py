"""`filo train`: train FiLo (prompt learners + heads, then the adapter) on one dataset's test split.

Parameters come from the `train:` section of `--params` (default: the recipe's defaults);
the few command-line options below override single values. See `filo.training`.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from filo.training import load_train_params, train

    params = load_train_params(
        args.params,
        seed=args.seed,
        epochs=args.epochs,
        adapter_epochs=args.adapter_epochs,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
        mlflow=False if args.no_mlflow else None,
        progress=False if args.no_progress else None,
    )
    result = train(
        args.manifest,
        args.descriptions,
        args.out,
        params,
        eval_manifest_path=args.eval_manifest,
        init=args.init,
        resume=args.resume,
    )
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
    parser.add_argument("--manifest", required=True, help="manifest of the training dataset (its test split is used)")
    parser.add_argument("--descriptions", required=True, help="descriptions artifact covering its categories")
    parser.add_argument("--out", required=True, help="final checkpoint path, e.g. models/filo-mvtec.pt")
    parser.add_argument("--params", help="YAML file whose 'train:' section holds the training parameters")
    parser.add_argument("--eval-manifest",
                        help="manifest of the evaluation dataset; training refuses categories it shares")
    parser.add_argument("--init", help="start from this filo checkpoint (its config replaces the params' model)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>.train/last.pt when present (same params and inputs only)")
    parser.add_argument("--seed", type=int, help="override train.seed")
    parser.add_argument("--epochs", type=int, help="override train.epochs (phase 1)")
    parser.add_argument("--adapter-epochs", type=int, help="override train.adapter_epochs (phase 2)")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    parser.add_argument("--num-workers", type=int, help="override train.num_workers")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run)
