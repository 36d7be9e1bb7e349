"""Faithful naive FiLo forward vs the optimized one: time per image and output differences.

Naive = what the authors compute: every prompt of the category (all 9 positions) at the
full 77 tokens, then the detected position's prompts are selected; MMCI as six separate
convolutions. Optimized = only the averaged prompts, truncated at the longest EOT, MMCI
folded into one 7x7 convolution, and the blocks before the dual path with one fused
attention call (torch's inference fast path materializes the attention weights). Both
run the same weights on the same images.

    python benchmarks/inference.py                  # tiny + ViT-L-14-336@518 (random weights)
    python benchmarks/inference.py --configs tiny --json out.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import torch

from filo.model.config import FiLoConfig
from filo.model.filo import FiLo

# The "bottle" descriptions of the paper: 10 descriptions -> 142 prompts in all.
BOTTLE = (
    "cracked large", "cracked small", "dented large", "dented small", "leaking",
    "discolored", "deformed", "missing cap", "excessive condensation", "unusual odor",
)
CONFIGS = {
    "tiny": lambda **kw: FiLoConfig.tiny(**kw),
    "ViT-L-14-336@518": lambda **kw: FiLoConfig(clip_pretrained=None, **kw),
}


@dataclass
class Result:
    name: str
    naive_s_per_image: float
    optimized_s_per_image: float
    max_abs_diff_map: float
    max_abs_diff_score: float

    @property
    def speedup(self) -> float:
        return self.naive_s_per_image / self.optimized_s_per_image

    def as_dict(self) -> dict:
        return {**self.__dict__, "speedup": self.speedup}


def _build(make_config, *, optimized: bool) -> FiLo:
    torch.manual_seed(0)
    model = FiLo(make_config(fold_mmci=optimized, optimized_text=optimized)).eval()
    model.prepare("bottle", BOTTLE)
    return model


@torch.no_grad()
def _time(model: FiLo, images: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    positions = ["center"] * len(images)
    model(images[:1], "bottle", positions=positions[:1])  # warm-up (also folds MMCI once)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = model(images, "bottle", positions=positions)
        times.append((time.perf_counter() - start) / len(images))
    return min(times), out.anomaly_map, out.score


def run(name: str, n_images: int, repeats: int) -> Result:
    """Time both forwards on the same weights and images (the fastest of `repeats` runs each)."""
    make_config = CONFIGS[name]
    optimized = _build(make_config, optimized=True)
    naive = _build(make_config, optimized=False)
    naive.load_state_dict(optimized.state_dict())
    size = optimized.config.image_size
    images = torch.randn(n_images, 3, size, size, generator=torch.Generator().manual_seed(1))
    naive_s, naive_map, naive_score = _time(naive, images, repeats)
    del naive
    fast_s, fast_map, fast_score = _time(optimized, images, repeats)
    return Result(
        name=name,
        naive_s_per_image=naive_s,
        optimized_s_per_image=fast_s,
        max_abs_diff_map=float((naive_map - fast_map).abs().max()),
        max_abs_diff_score=float((naive_score - fast_score).abs().max()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--images", type=int, default=1, help="images per forward (one category)")
    parser.add_argument("--tiny-repeats", type=int, default=20, help="timed repeats for the tiny config")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats for ViT-L-14-336@518 (the fastest counts: load on a shared machine only slows)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    results = [run(name, args.images, args.tiny_repeats if name == "tiny" else args.repeats) for name in args.configs]
    header = f"{'config':<20} {'naive s/img':>12} {'optimized s/img':>16} {'speedup':>8} {'max|Δmap|':>11} {'max|Δscore|':>12}"
    print(f"torch threads: {torch.get_num_threads()}; time per image: the fastest of the timed repeats")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.name:<20} {r.naive_s_per_image:>12.4f} {r.optimized_s_per_image:>16.4f} {r.speedup:>7.2f}x "
              f"{r.max_abs_diff_map:>11.2e} {r.max_abs_diff_score:>12.2e}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"configs": [r.as_dict() for r in results]}, handle, indent=2)


if __name__ == "__main__":
    main()
