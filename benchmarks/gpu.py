"""Images per second of FiLo's evaluation forward, fp32 vs bf16 autocast, per batch size, with peak memory.

The forward is `FiLo.predict` as `filo evaluate` runs it (one category, the "bottle"
descriptions, box suppression with a keep mask), on random images and random CLIP
weights at ViT-L-14-336@518 (the paper's size; the weights do not change the cost).

    python benchmarks/gpu.py --json gpu.json                          # a CUDA machine: the full table
    python benchmarks/gpu.py --device cpu --config tiny --batch-sizes 1 4   # smoke test, seconds

Per (precision, batch size): `--warmup` forwards, then `--repeats` timed ones (CUDA is
synchronised around them). Peak memory is torch's CUDA allocator peak for that cell; on
the CPU it is the process's peak RSS so far (it never goes down, so read it as an upper
bound). A cell that runs out of GPU memory is reported as "out of memory", not skipped.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from filo.model.config import preset_config
from filo.model.filo import FiLo
from filo.model.precision import PRECISIONS, autocast

BOTTLE = (
    "cracked large", "cracked small", "dented large", "dented small", "leaking",
    "discolored", "deformed", "missing cap", "excessive condensation", "unusual odor",
)
CONFIGS = {
    "ViT-L-14-336@518": lambda: preset_config("paper", {"clip_pretrained": None}),
    "tiny": lambda: preset_config("tiny"),
}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model: FiLo, device: torch.device, precision: str, batch_size: int, warmup: int, repeats: int) -> dict:
    """Images/s and peak memory of `repeats` predict calls on one batch of `batch_size` random images."""
    size = model.config.image_size
    images = torch.randn(batch_size, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    keep = torch.zeros(batch_size, size, size, dtype=torch.bool, device=device)
    keep[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    positions = ["center"] * batch_size
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        with autocast(device, precision):
            for _ in range(warmup):
                model.predict(images, "bottle", positions=positions, keep_masks=keep)
            _synchronize(device)
            start = time.perf_counter()
            for _ in range(repeats):
                model.predict(images, "bottle", positions=positions, keep_masks=keep)
            _synchronize(device)
            seconds = time.perf_counter() - start
    except torch.cuda.OutOfMemoryError:
        return {"precision": precision, "batch_size": batch_size, "images_per_s": None, "peak_mib": None,
                "error": "out of memory"}
    return {"precision": precision, "batch_size": batch_size, "images_per_s": batch_size * repeats / seconds,
            "peak_mib": _peak_mib(device), "error": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device (default: %(default)s)")
    parser.add_argument("--config", choices=list(CONFIGS), default="ViT-L-14-336@518")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards per cell (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards per cell (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here; pass --device cpu (with --config tiny for a quick smoke test)")
    torch.manual_seed(0)
    model = FiLo(CONFIGS[args.config]()).eval().to(device)
    model.prepare("bottle", BOTTLE)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    bf16 = torch.cuda.is_bf16_supported() if device.type == "cuda" else True
    rows = [measure(model, device, precision, batch_size, args.warmup, args.repeats)
            for precision in args.precisions for batch_size in args.batch_sizes]

    print(f"{args.config} on {name}, torch {torch.__version__}, bf16 supported: {bf16}")
    header = f"{'precision':<10} {'batch':>5} {'images/s':>10} {'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row["error"]:
            print(f"{row['precision']:<10} {row['batch_size']:>5} {row['error']:>21}")
        else:
            print(f"{row['precision']:<10} {row['batch_size']:>5} {row['images_per_s']:>10.2f} {row['peak_mib']:>10.0f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"config": args.config, "device": name, "torch": torch.__version__, "bf16_supported": bf16,
                       "warmup": args.warmup, "repeats": args.repeats, "results": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
