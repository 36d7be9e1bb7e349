"""Does FiLo training learn something that transfers to unseen categories?

Trains the tiny demo model on the demo profile's MVTec-layout synthetic dataset
(`synth_mvtec`) and evaluates zero-shot on the VisA-layout one (`synth_visa`, disjoint
categories), comparing the model at initialization (the same seeded weights training
starts from) with the trained one. Scoring uses no boxes. Metrics: pixel and image AUROC
per category, averaged over categories (the papers' convention, the headline numbers),
and pooled over all test images of the target set. The default schedule is shortened
(3 + 1 epochs instead of the recipe's 15 + 5) so the run takes minutes on a 2-core CPU;
all other training parameters are the recipe's, with batches of 4 images. `--dice-reduction`
and `--amp` (bf16 autocast, here on the CPU) compare the recipe's options.

    python benchmarks/learnability.py                          # temp work dir, 3 + 1 epochs
    python benchmarks/learnability.py --json learnability.json --work-dir /tmp/learn
    python benchmarks/learnability.py --batch-size 1 --dice-reduction per_image
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from filo.data.index import index_dataset
from filo.data.manifest import read_manifest
from filo.data.synthetic import generate_dataset
from filo.descriptions import resolve_descriptions, write_descriptions
from filo.evaluation.scoring import ScoredImages, score_manifest
from filo.metrics import compute_image_metrics, compute_pixel_metrics
from filo.model.checkpoint import load_checkpoint
from filo.model.losses import DICE_REDUCTIONS
from filo.training import TrainParams, train

SOURCE, TARGET = ("mvtec", "synth_mvtec"), ("visa", "synth_visa")


def prepare_dataset(work_dir: Path, layout: str, name: str, seed: int) -> tuple[Path, Path]:
    """Generate, index and describe one demo dataset; returns (manifest, descriptions) paths."""
    root = work_dir / name
    if not root.is_dir():
        generate_dataset(layout, root, seed=seed)
    manifest = work_dir / f"{name}.parquet"
    index_dataset(root, manifest, dataset=name)
    categories = sorted(read_manifest(manifest)["category"].unique())
    descriptions = work_dir / f"{name}-descriptions.json"
    write_descriptions(descriptions, resolve_descriptions(categories, source_order=["defaults"]))
    return manifest, descriptions


def evaluate(checkpoint: Path, manifest: Path, descriptions: Path) -> dict[str, float]:
    """Zero-shot image/pixel AUROC of a checkpoint on a manifest's test split (no boxes)."""
    from filo.descriptions import load_descriptions

    scored = score_manifest(load_checkpoint(checkpoint), read_manifest(manifest), load_descriptions(descriptions))
    per_category = [_aurocs(scored, scored.table["category"] == c) for c in sorted(scored.table["category"].unique())]
    pooled = _aurocs(scored, np.ones(len(scored.table), dtype=bool))
    return {
        "image_auroc": float(np.mean([m["image_auroc"] for m in per_category])),
        "pixel_auroc": float(np.mean([m["pixel_auroc"] for m in per_category])),
        "pooled_image_auroc": pooled["image_auroc"],
        "pooled_pixel_auroc": pooled["pixel_auroc"],
    }


def _aurocs(scored: ScoredImages, selected: np.ndarray) -> dict[str, float]:
    rows = np.asarray(selected)
    table = scored.table[rows]
    image = compute_image_metrics(table["label"].to_numpy(), table["score"].to_numpy())
    pixel = compute_pixel_metrics(scored.masks[rows], scored.anomaly_maps[rows], progress=False)
    return {"image_auroc": image["image_auroc"], "pixel_auroc": pixel["pixel_auroc"]}


def run(work_dir: Path, params: TrainParams, data_seed: int) -> dict:
    """The whole benchmark in `work_dir`; returns the JSON-ready result."""
    train_manifest, train_descriptions = prepare_dataset(work_dir, *SOURCE, seed=data_seed)
    eval_manifest, eval_descriptions = prepare_dataset(work_dir, *TARGET, seed=data_seed + 1)
    untrained = train(train_manifest, train_descriptions, work_dir / "untrained.pt",
                      TrainParams(**{**params.to_dict(), "epochs": 0, "adapter_epochs": 0}),
                      eval_manifest_path=eval_manifest).checkpoint
    result = train(train_manifest, train_descriptions, work_dir / "trained.pt", params,
                   eval_manifest_path=eval_manifest)
    return {
        "untrained": evaluate(untrained, eval_manifest, eval_descriptions),
        "trained": evaluate(result.checkpoint, eval_manifest, eval_descriptions),
        "train_s": result.train_s,
        "losses": result.history,
        "params": params.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, help="keep datasets and checkpoints here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--epochs", type=int, default=3, help="phase 1 epochs (the full recipe: 15)")
    parser.add_argument("--adapter-epochs", type=int, default=1, help="phase 2 epochs (the full recipe: 5)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per step (one category)")
    parser.add_argument("--dice-reduction", choices=DICE_REDUCTIONS, default=TrainParams.dice_reduction,
                        help="phase-1 dice over a batch (authors: per image row at a batch of one image)")
    parser.add_argument("--amp", action="store_true", help="train under bf16 autocast (on the CPU here)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--data-seed", type=int, default=0, help="synthetic data seed")
    args = parser.parse_args()
    params = TrainParams(model_preset="tiny", epochs=args.epochs, adapter_epochs=args.adapter_epochs,
                         batch_size=args.batch_size, dice_reduction=args.dice_reduction, amp=args.amp,
                         seed=args.seed, device="cpu", mlflow=False)
    with tempfile.TemporaryDirectory() as temp:
        work_dir = args.work_dir or Path(temp)
        work_dir.mkdir(parents=True, exist_ok=True)
        result = run(work_dir, params, args.data_seed)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
