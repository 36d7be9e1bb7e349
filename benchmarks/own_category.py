"""Zero-shot on a product no shipped list knows: does `filo calibrate`'s threshold hold its FPR on new good images?

For a category name no shipped description list has ("gear wheel", described by filo's
generic defect states), each trial renders good images with the synthetic generator's
round-part renderer (and a few defective ones), runs `filo calibrate` on --n-calibrate good
images at --target-fpr, then `filo predict --verdict` on --n-holdout OTHER good images of
the same category, and reports the share flagged there (the realised false-positive rate;
the goal is within 10 points of the target) and the share of defective images flagged.

    python benchmarks/own_category.py --json own_category.json
    python benchmarks/own_category.py --model models:/filo@champion --trials 1     # a registered model

Without --model it uses an untrained tiny FiLo (seeded random weights, as the tests do):
the threshold's behaviour on good images does not depend on the model being good.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from filo.cli import main as filo
from filo.data.synthetic import CATEGORIES, synthesize
from filo.registry.predict import predict_images

CATEGORY = "gear wheel"
RENDERER = "round_part"
DEFECTS = ("scratch", "crack", "missing_piece", "contamination")


def render(folder: Path, count: int, seed: int, size: int, defect: str | None = None) -> Path:
    """`count` synthetic images of the product (good, or each with `defect`) as PNGs in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        sample = synthesize(CATEGORIES[RENDERER], defect, size, rng)
        Image.fromarray(sample.image).save(folder / f"{index:04d}.png")
    return folder


def tiny_checkpoint(path: Path) -> str:
    """An untrained tiny FiLo checkpoint (seed 0) that records no training category."""
    import torch

    from filo.model.checkpoint import save_checkpoint
    from filo.model.config import TrainingProvenance, preset_config
    from filo.model.filo import FiLo

    torch.manual_seed(0)
    config = preset_config("tiny", {"provenance": TrainingProvenance(train_dataset="synth_mvtec", trained_categories=())})
    save_checkpoint(FiLo(config), path)
    return str(path)


def calibrate(model: str, good: Path, target_fpr: float, out: Path) -> dict:
    """`filo calibrate GOOD --category ... --target-fpr ... --out OUT` in this process; its printed verdict."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = filo(["calibrate", str(good), "--category", CATEGORY, "--model", model,
                     "--target-fpr", str(target_fpr), "--out", str(out)])
    if code != 0:
        raise SystemExit(f"filo calibrate failed with exit code {code}")
    return json.loads(printed.getvalue())


def flagged_share(model: str, folder: Path, verdict: Path, out_dir: Path) -> tuple[int, int]:
    """(flagged, total) of `filo predict --verdict` over the images of `folder`."""
    verdicts = [p.verdict for p in predict_images([folder], CATEGORY, model=model, verdict=verdict, out_dir=out_dir,
                                                  progress=False)]
    return verdicts.count("anomalous"), len(verdicts)


def trial(model: str, work: Path, seed: int, args: argparse.Namespace) -> dict:
    """One calibration on fresh good images and its check on other good and on defective images."""
    calibration = render(work / "calibrate", args.n_calibrate, 1000 * seed + 1, args.image_size)
    holdout = render(work / "holdout", args.n_holdout, 1000 * seed + 2, args.image_size)
    verdict = calibrate(model, calibration, args.target_fpr, work / "verdict.json")
    fp, n_good = flagged_share(model, holdout, work / "verdict.json", work / "maps")
    tp = n_bad = 0
    for number, defect in enumerate(DEFECTS):
        hits, total = flagged_share(model, render(work / defect, args.n_defective, 1000 * seed + 10 + number,
                                                  args.image_size, defect), work / "verdict.json", work / "maps")
        tp, n_bad = tp + hits, n_bad + total
    calibration_fp = verdict["confusion"]["fp"]
    return {"seed": seed, "threshold": verdict["threshold"], "calibration_fpr": calibration_fp / args.n_calibrate,
            "holdout_fpr": fp / n_good, "holdout_good": n_good, "defective_flagged": tp / n_bad if n_bad else None,
            "defective": n_bad, "descriptions": verdict["calibrated_on"]["descriptions"]["source"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model reference as for `filo predict` (default: an untrained tiny FiLo)")
    parser.add_argument("--target-fpr", type=float, default=0.10)
    parser.add_argument("--n-calibrate", type=int, default=100, help="good images to calibrate on")
    parser.add_argument("--n-holdout", type=int, default=100, help="other good images to measure the FPR on")
    parser.add_argument("--n-defective", type=int, default=5, help="defective images per defect type")
    parser.add_argument("--trials", type=int, default=3, help="independent image sets")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="filo-own-category-") as scratch:
        model = args.model or tiny_checkpoint(Path(scratch) / "tiny.pt")
        for seed in range(args.trials):
            results.append(trial(model, Path(scratch) / f"trial{seed}", seed, args))
    worst = max(abs(r["holdout_fpr"] - args.target_fpr) for r in results)
    summary = {"category": CATEGORY, "model": args.model or "untrained tiny FiLo (seed 0)",
               "target_fpr": args.target_fpr, "n_calibrate": args.n_calibrate, "n_holdout": args.n_holdout,
               "trials": results, "mean_holdout_fpr": float(np.mean([r["holdout_fpr"] for r in results])),
               "worst_gap_points": 100 * worst, "within_10_points": bool(worst <= 0.10 + 1e-12)}
    print(f"category {CATEGORY!r} (descriptions: {results[0]['descriptions']}), model: {summary['model']}, "
          f"target FPR {args.target_fpr:g}")
    print(f"{'trial':>5} {'threshold':>12} {'FPR calib.':>11} {'FPR holdout':>12} {'defective flagged':>18}")
    for r in results:
        defective = f"{r['defective_flagged']:.1%} of {r['defective']}" if r["defective"] else "-"
        print(f"{r['seed']:>5} {r['threshold']:>12.6f} {r['calibration_fpr']:>11.1%} "
              f"{r['holdout_fpr']:>12.1%} {defective:>18}")
    print(f"mean holdout FPR {summary['mean_holdout_fpr']:.1%}; worst gap to the target "
          f"{summary['worst_gap_points']:.1f} points ({'within' if summary['within_10_points'] else 'NOT within'} 10)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
