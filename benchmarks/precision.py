"""What bf16 autocast does to FiLo's outputs, measured on the CPU: map differences and AUROC change.

1. Demo: the tiny model trained as the demo profile trains it (`synth_mvtec`, default
   3 + 1 epochs, batches of 4; `benchmarks/learnability.py`'s data and metrics), scored
   zero-shot on `synth_visa`'s test split (no boxes) in fp32 and under bf16 autocast.
2. Paper size: one forward of a random-weight FiLo at ViT-L-14-336@518 on a random image,
   fp32 vs bf16 (the largest map and score differences at the paper's shapes).

    python benchmarks/precision.py --json precision.json
    python benchmarks/precision.py --epochs 1 --adapter-epochs 0 --skip-paper-size   # quicker

bf16 autocast runs on the CPU here only to measure its effect; `filo evaluate --amp` and
training's `amp` use it on CUDA only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from learnability import SOURCE, TARGET, _aurocs, prepare_dataset

from filo.data.manifest import read_manifest
from filo.descriptions import load_descriptions
from filo.evaluation.scoring import score_manifest
from filo.model.checkpoint import load_checkpoint
from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.model.precision import autocast
from filo.training import TrainParams, train

BOTTLE = ("cracked large", "dented small", "leaking", "discolored", "missing cap")


def demo(work_dir: Path, params: TrainParams) -> dict:
    """Train the demo model, score the target set in both precisions, compare."""
    train_manifest, train_descriptions = prepare_dataset(work_dir, *SOURCE, seed=0)
    eval_manifest, eval_descriptions = prepare_dataset(work_dir, *TARGET, seed=1)
    checkpoint = train(train_manifest, train_descriptions, work_dir / "demo.pt", params,
                       eval_manifest_path=eval_manifest).checkpoint
    model, manifest = load_checkpoint(checkpoint), read_manifest(eval_manifest)
    descriptions = load_descriptions(eval_descriptions)
    scored = {}
    seconds = {}
    for precision in ("fp32", "bf16"):
        start = time.perf_counter()
        scored[precision] = score_manifest(model, manifest, descriptions, precision=precision)
        seconds[precision] = time.perf_counter() - start
    everything = np.ones(len(scored["fp32"].table), dtype=bool)
    metrics = {precision: _aurocs(result, everything) for precision, result in scored.items()}
    map_difference = np.abs(scored["bf16"].anomaly_maps - scored["fp32"].anomaly_maps)
    return {
        "images": int(everything.sum()),
        "max_abs_diff_map": float(map_difference.max()),
        "mean_abs_diff_map": float(map_difference.mean()),
        "max_abs_diff_score": float(np.abs(scored["bf16"].table["score"] - scored["fp32"].table["score"]).max()),
        "metrics": metrics,
        "delta_image_auroc": metrics["bf16"]["image_auroc"] - metrics["fp32"]["image_auroc"],
        "delta_pixel_auroc": metrics["bf16"]["pixel_auroc"] - metrics["fp32"]["pixel_auroc"],
        "scoring_s": seconds,
    }


@torch.no_grad()
def paper_size() -> dict:
    """fp32 vs bf16 outputs of one ViT-L-14-336@518 forward (random weights, random image)."""
    torch.manual_seed(0)
    model = FiLo(preset_config("paper", {"clip_pretrained": None})).eval()
    model.prepare("bottle", BOTTLE)
    image = torch.randn(1, 3, 518, 518, generator=torch.Generator().manual_seed(1))
    outputs, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        start = time.perf_counter()
        with autocast("cpu", precision):
            outputs[precision] = model(image, "bottle", positions=["center"])
        seconds[precision] = time.perf_counter() - start
    fp32, bf16 = outputs["fp32"], outputs["bf16"]
    return {
        "max_abs_diff_map": float((bf16.anomaly_map.float() - fp32.anomaly_map).abs().max()),
        "map_range": [float(fp32.anomaly_map.min()), float(fp32.anomaly_map.max())],
        "max_abs_diff_score": float((bf16.score.float() - fp32.score).abs().max()),
        "forward_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="phase 1 epochs (the demo profile's: 3)")
    parser.add_argument("--adapter-epochs", type=int, default=1, help="phase 2 epochs (the demo profile's: 1)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per step (the demo profile's: 4)")
    parser.add_argument("--skip-paper-size", action="store_true", help="skip the ViT-L-14-336@518 forward")
    parser.add_argument("--work-dir", type=Path, help="keep datasets and the checkpoint here (default: temp dir)")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    params = TrainParams(model_preset="tiny", epochs=args.epochs, adapter_epochs=args.adapter_epochs,
                         batch_size=args.batch_size,
                         device="cpu", mlflow=False, progress=False)
    with tempfile.TemporaryDirectory() as temp:
        work_dir = args.work_dir or Path(temp)
        work_dir.mkdir(parents=True, exist_ok=True)
        result = {"torch_threads": torch.get_num_threads(), "params": params.to_dict(), "demo": demo(work_dir, params)}
    if not args.skip_paper_size:
        result["paper_size"] = paper_size()
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
