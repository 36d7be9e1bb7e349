"""FiLo inference per image: the faithful naive forward, the optimized eager forward, and the ONNX runtime.

Naive = what the authors compute: every prompt of the category (all 9 positions) at the
full 77 tokens, then the detected position's prompts are selected; MMCI as six separate
convolutions. Optimized = only the averaged prompts, truncated at the longest EOT, MMCI
folded into one 7x7 convolution, and the blocks before the dual path with one fused
attention call (torch's inference fast path materializes the attention weights). Both
run the same weights on the same images.

Runtime columns: the optimized model's `predict` (what `filo predict` runs: score, box-suppressed
map, top descriptions) in torch eager against the same model exported with `filo.export`
(`filo export`) and run by each export runtime (`filo predict --runtime onnx|openvino`), all on
`torch.get_num_threads()` threads; the export's maps and scores are compared with eager's. The
contenders are timed interleaved (eager, onnx, openvino, eager, ...: one round each, `--rounds`
rounds), so load from other jobs on a shared machine falls on all of them alike; a runtime's
speed-up is the median over rounds of eager's time over its time in the same round. The
1-minute load average is printed at the start and end of each config. Beside wall time, the
process CPU time (all threads) is timed the same way: on a loaded machine it tracks the work
done more closely than wall time, which then mostly measures the share of the cores obtained.

    python benchmarks/inference.py                  # tiny + ViT-L-14-336@518 (random weights)
    python benchmarks/inference.py --configs tiny --json out.json
    python benchmarks/inference.py --configs ViT-L-14-336@518 --skip-naive --repeats 1 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass

import torch

from filo.descriptions import CategoryDescriptions
from filo.export import SESSIONS, OnnxFiLo, write_export
from filo.model.config import preset_config
from filo.model.filo import FiLo

# The "bottle" descriptions of the paper: 10 descriptions -> 142 prompts in all.
BOTTLE = (
    "cracked large", "cracked small", "dented large", "dented small", "leaking",
    "discolored", "deformed", "missing cap", "excessive condensation", "unusual odor",
)
CONFIGS = {
    "tiny": lambda **kw: preset_config("tiny", kw),
    "ViT-L-14-336@518": lambda **kw: preset_config("paper", {"clip_pretrained": None, **kw}),
}


@dataclass
class RuntimeResult:
    """One export runtime against torch eager `predict`, over interleaved rounds."""

    runtime: str
    predict_s_per_image: float
    """Median over the rounds."""
    speedup: float
    """Median over the rounds of eager's time over this runtime's time in the same round."""
    cpu_s_per_image: float
    """Median over the rounds of the process CPU time (all threads)."""
    cpu_speedup: float
    """As `speedup`, for CPU time."""
    round_s: list[float]
    """Wall seconds per image in each round, in order."""
    max_abs_diff_map: float
    max_abs_diff_score: float


@dataclass
class Result:
    name: str
    naive_s_per_image: float | None
    optimized_s_per_image: float
    max_abs_diff_map: float | None
    max_abs_diff_score: float | None
    eager_predict_s_per_image: float
    """Median over the interleaved rounds."""
    eager_predict_cpu_s_per_image: float
    """Median over the interleaved rounds of the process CPU time (all threads)."""
    eager_round_s: list[float]
    """Eager predict's wall seconds per image in each round, in order."""
    runtimes: list[RuntimeResult]
    rounds: int
    load_average: tuple[float, float]
    """1-minute load average at the start and at the end of the config."""
    export_s: float

    @property
    def speedup(self) -> float | None:
        return self.naive_s_per_image / self.optimized_s_per_image if self.naive_s_per_image else None

    def as_dict(self) -> dict:
        return {**asdict(self), "speedup": self.speedup}


def _build(make_config, *, optimized: bool) -> FiLo:
    torch.manual_seed(0)
    model = FiLo(make_config(fold_mmci=optimized, optimized_text=optimized)).eval()
    model.prepare("bottle", BOTTLE)
    return model


def _fastest(call, repeats: int, n_images: int):
    """(fastest seconds per image over `repeats` timed calls after one warm-up, the last result)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) / n_images)
    return min(times), result


@torch.no_grad()
def _eager(name: str, images: torch.Tensor, repeats: int, naive: bool, folder: str) -> dict:
    """Eager forward timings and outputs, and the optimized model (``model``), exported into `folder`."""
    make_config = CONFIGS[name]
    optimized = _build(make_config, optimized=True)
    positions = ["center"] * len(images)

    def forward(model):
        out = model(images, "bottle", positions=positions)
        return out.anomaly_map, out.score

    found: dict = {"naive_s": None, "naive_map": None, "naive_score": None}
    if naive:
        naive_model = _build(make_config, optimized=False)
        naive_model.load_state_dict(optimized.state_dict())
        found["naive_s"], (found["naive_map"], found["naive_score"]) = _fastest(lambda: forward(naive_model),
                                                                                repeats, len(images))
        del naive_model
    found["fast_s"], (found["fast_map"], found["fast_score"]) = _fastest(lambda: forward(optimized), repeats,
                                                                         len(images))
    found["model"] = optimized
    start = time.perf_counter()
    found["exported"] = write_export(optimized, "bottle", CategoryDescriptions(BOTTLE, "paper"), f"{folder}/bottle",
                                     threshold=None, calibration=None,
                                     source={"model": "benchmark", "direction": name})
    found["export_s"] = time.perf_counter() - start
    return found


def onnx_profile(graph_path, feeds: dict, threads: int) -> list[tuple[str, float, float]]:
    """(op type, seconds, share) of one onnxruntime run after a warm-up, most expensive first."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = f"{tempfile.gettempdir()}/filo-onnx-profile"
    session = onnxruntime.InferenceSession(str(graph_path), options, providers=["CPUExecutionProvider"])
    session.run(None, feeds)
    session.run(None, feeds)
    with open(session.end_profiling()) as handle:
        events = [e for e in json.load(handle) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    timed = events[len(events) // 2:]  # the second (timed) run's kernels; both runs execute the same nodes
    by_op: dict[str, float] = {}
    for event in timed:
        by_op[event["args"]["op_name"]] = by_op.get(event["args"]["op_name"], 0.0) + event["dur"] / 1e6
    total = sum(by_op.values())
    return sorted(((op, seconds, seconds / total) for op, seconds in by_op.items()), key=lambda row: -row[1])


def _interleaved(contenders: dict, rounds: int, n_images: int) -> tuple[dict, dict, dict]:
    """({name: wall seconds per image in each round}, {name: process CPU seconds per image in each round},
    {name: last result}): one call of each contender per round in turn, after one warm-up call each."""
    last = {name: call() for name, call in contenders.items()}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, call in contenders.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            last[name] = call()
            wall[name].append((time.perf_counter() - start) / n_images)
            cpu[name].append((time.process_time() - start_cpu) / n_images)
    return wall, cpu, last


def run(name: str, n_images: int, repeats: int, rounds: int, runtimes: list[str], *, naive: bool = True,
        profile: bool = False) -> Result:
    """Time the forwards (the fastest of `repeats` runs each), then eager `predict` and each export runtime
    interleaved over `rounds` rounds, on the same weights and images."""
    size = CONFIGS[name]().image_size
    images = torch.randn(n_images, 3, size, size, generator=torch.Generator().manual_seed(1))
    positions = ["center"] * n_images
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="filo-bench-export-") as folder:
        eager = _eager(name, images, repeats, naive, folder)
        model = eager["model"]
        contenders = {"torch": lambda: model.predict(images, "bottle", positions=positions)}
        for runtime in runtimes:
            session = OnnxFiLo(eager["exported"], runtime=runtime, threads=torch.get_num_threads())
            contenders[runtime] = lambda session=session: session.predict(images, "bottle", positions=positions)
        with torch.no_grad():
            times, cpu, outputs = _interleaved(contenders, rounds, n_images)
        if profile:
            feeds = {"images": images.numpy(), "positions": torch.full((n_images, 1), 4).numpy(),
                     "keep": torch.ones(n_images, size, size, dtype=torch.bool).numpy()}
            print(f"onnxruntime profile, {name}, one run:")
            for op, seconds, share in onnx_profile(eager["exported"].graph_path, feeds, torch.get_num_threads())[:10]:
                print(f"  {op:<20} {seconds:8.3f} s {100 * share:5.1f}%")
    reference = outputs["torch"]
    return Result(
        name=name,
        naive_s_per_image=eager["naive_s"],
        optimized_s_per_image=eager["fast_s"],
        max_abs_diff_map=float((eager["naive_map"] - eager["fast_map"]).abs().max()) if naive else None,
        max_abs_diff_score=float((eager["naive_score"] - eager["fast_score"]).abs().max()) if naive else None,
        eager_predict_s_per_image=statistics.median(times["torch"]),
        eager_predict_cpu_s_per_image=statistics.median(cpu["torch"]),
        eager_round_s=times["torch"],
        runtimes=[
            RuntimeResult(
                runtime=runtime,
                predict_s_per_image=statistics.median(times[runtime]),
                speedup=statistics.median(e / r for e, r in zip(times["torch"], times[runtime])),
                cpu_s_per_image=statistics.median(cpu[runtime]),
                cpu_speedup=statistics.median(e / r for e, r in zip(cpu["torch"], cpu[runtime])),
                round_s=times[runtime],
                max_abs_diff_map=float((outputs[runtime].anomaly_map - reference.anomaly_map).abs().max()),
                max_abs_diff_score=float((outputs[runtime].score - reference.score).abs().max()),
            )
            for runtime in runtimes
        ],
        rounds=rounds,
        load_average=(load_start, os.getloadavg()[0]),
        export_s=eager["export_s"],
    )


def _cell(value: float | None, spec: str, width: int) -> str:
    return format(value, spec).rjust(width) if value is not None else "-".rjust(width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--images", type=int, default=1, help="images per forward (one category)")
    parser.add_argument("--tiny-repeats", type=int, default=20,
                        help="timed repeats of the forwards and interleaved rounds of the runtimes for the tiny config")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats of the naive and optimized forwards for ViT-L-14-336@518 (the fastest "
                        "counts: load on a shared machine only slows)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of eager predict and the export runtimes for ViT-L-14-336@518 "
                        "(medians count)")
    parser.add_argument("--runtimes", nargs="+", choices=list(SESSIONS), default=list(SESSIONS),
                        help="export runtimes timed against eager predict (default: all; openvino needs its extra)")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive forward (the slowest column)")
    parser.add_argument("--onnx-profile", action="store_true",
                        help="also print onnxruntime's time per op type for one run of the export")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    results = [run(name, args.images, args.tiny_repeats if name == "tiny" else args.repeats,
                   args.tiny_repeats if name == "tiny" else args.rounds, args.runtimes,
                   naive=not args.skip_naive, profile=args.onnx_profile)
               for name in args.configs]
    print(f"torch threads: {torch.get_num_threads()} (the export runtimes: the same); seconds per image")
    header = (f"{'config':<18} {'naive fwd':>10} {'eager fwd':>10} {'speedup':>8} {'max|Δmap|':>10} "
              f"{'load avg':>11} {'runtime':>8} {'predict':>9} {'vs eager':>9} {'cpu s':>9} {'vs eager':>9} "
              f"{'max|Δmap|':>10} {'max|Δscore|':>11}")
    print(header)
    print("-" * len(header))
    for r in results:
        forward = (f"{r.name:<18} {_cell(r.naive_s_per_image, '.4f', 10)} {r.optimized_s_per_image:>10.4f} "
                   f"{_cell(r.speedup, '.2f', 7)}x {_cell(r.max_abs_diff_map, '.2e', 10)} "
                   f"{r.load_average[0]:>5.1f}-{r.load_average[1]:<5.1f}")
        print(f"{forward} {'torch':>8} {r.eager_predict_s_per_image:>9.4f} {'':>9} "
              f"{r.eager_predict_cpu_s_per_image:>9.4f} {'':>9} {'':>10} {'':>11}")
        for t in r.runtimes:
            print(f"{'':<{len(forward)}} {t.runtime:>8} {t.predict_s_per_image:>9.4f} {t.speedup:>8.2f}x "
                  f"{t.cpu_s_per_image:>9.4f} {t.cpu_speedup:>8.2f}x {t.max_abs_diff_map:>10.2e} "
                  f"{t.max_abs_diff_score:>11.2e}")
    print("naive/eager fwd: the fastest of the repeats; predict: the median of the interleaved rounds ("
          + ", ".join(f"{r.name} {r.rounds}" for r in results) + "); vs eager: the median over rounds of torch "
          "predict time / runtime predict time (wall; cpu s: process CPU time, all threads); load avg: 1-minute, "
          "start-end; export took "
          + ", ".join(f"{r.name} {r.export_s:.0f} s" for r in results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"torch_threads": torch.get_num_threads(), "configs": [r.as_dict() for r in results]},
                      handle, indent=2)


if __name__ == "__main__":
    main()
