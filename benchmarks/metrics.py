"""Benchmark the pixel metrics on synthetic VisA-sized arrays against anomalib and scikit-learn.

Times ``filo.metrics.compute_pixel_metrics`` (all five pixel metrics in one call) against
anomalib's AUPRO (the torchmetrics ``_AUPRO`` behind ``anomalib.metrics.AUPRO``) and
scikit-learn's ``roc_auc_score`` + ``average_precision_score``, and prints values, absolute
differences, time ratios and the peak extra resident memory of each. anomalib lives only
in the benchmark environment (see benchmarks/README.md); without it its column is skipped.
``--repeats`` times ours several times on the same arrays and reports the median. The
JSON names the filo source it timed, so an older commit's package (on ``PYTHONPATH``) can be
timed by the same script and the two compared.

    python benchmarks/metrics.py --images 200 --size 518 --json bench.json
    python benchmarks/metrics.py --images 2162 --skip-references --repeats 3 --json visa.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

import filo
from filo.io import atomic_write_text
from filo.metrics import compute_pixel_metrics

PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def synthetic_visa(images: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bool masks (about half the images with 1-3 elliptic defects) and float32 maps that favour them."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((images, size, size), dtype=bool)
    rows, cols = np.ogrid[:size, :size]
    for index in range(1, images, 2):
        for _ in range(rng.integers(1, 4)):
            centre_row, centre_col = rng.integers(0, size, 2)
            radius_row, radius_col = rng.integers(max(2, size // 64), max(3, size // 9), 2)
            masks[index] |= ((rows - centre_row) / radius_row) ** 2 + ((cols - centre_col) / radius_col) ** 2 <= 1
    maps = rng.random((images, size, size), dtype=np.float32)
    maps[masks] += np.float32(0.6)
    return masks, maps


def _status_kib(field: str) -> int:
    for line in PROC_STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextmanager
def peak_extra_memory(record: dict[str, float]):
    """Record in ``record["peak_mib"]`` how far resident memory rose above its level at entry.

    Resets the kernel's high-water mark (Linux ``/proc/self/clear_refs``); NaN elsewhere.
    """
    try:
        PROC_CLEAR_REFS.write_text("5")
        start = _status_kib("VmRSS")
    except OSError:
        start = None
    yield
    record["peak_mib"] = math.nan if start is None else (_status_kib("VmHWM") - start) / 1024


def timed(function: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """(result, wall seconds, CPU seconds of this process, peak extra MiB) of calling `function`.

    On a shared machine the CPU seconds move less than the wall seconds with other jobs' load.
    """
    record: dict[str, float] = {}
    with peak_extra_memory(record):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return result, seconds, cpu_seconds, record["peak_mib"]


def load_anomalib_aupro() -> type | None:
    """anomalib's torchmetrics AUPRO class (imported before timing), or None when not importable."""
    try:
        from anomalib.metrics.aupro import _AUPRO
    except ImportError as missing:
        print(f"anomalib is not importable ({missing}); skipping its column (see benchmarks/README.md).")
        return None
    return _AUPRO


def anomalib_aupro(aupro_class: type, masks: np.ndarray, maps: np.ndarray, fpr_limit: float) -> float:
    """anomalib's AUPRO of the same arrays (shared with numpy, not copied)."""
    import torch

    metric = aupro_class(fpr_limit=fpr_limit)
    metric.update(torch.from_numpy(maps), torch.from_numpy(masks))
    return float(metric.compute())


def sklearn_auroc_ap(masks: np.ndarray, maps: np.ndarray) -> tuple[float, float]:
    """scikit-learn's pixel AUROC and AP over the flattened arrays."""
    labels, scores = masks.ravel(), maps.ravel()
    return roc_auc_score(labels, scores), average_precision_score(labels, scores)


def run(images: int, size: int, seed: int, fpr_limit: float, with_references: bool, repeats: int) -> dict[str, Any]:
    """Run ours `repeats` times (and, unless told not to, anomalib and scikit-learn once).

    Returns values, seconds (ours: the median, and every run), peak extra memory (ours: the
    largest over the runs).
    """
    masks, maps = synthetic_visa(images, size, seed)
    print(f"{images} maps of {size}x{size} = {maps.size / 1e6:.1f} M pixels, "
          f"{masks.mean() * 100:.2f}% anomalous; filo from {Path(filo.__file__).parent}")
    runs = [timed(lambda: compute_pixel_metrics(masks, maps, pro_fpr_limit=fpr_limit, progress=False))
            for _ in range(repeats)]
    ours = runs[0][0]
    if any(dict(result) != dict(ours) for result, *_ in runs):
        raise RuntimeError("repeated runs on the same arrays gave different values")
    ours_runs_s, ours_runs_cpu_s = [run[1] for run in runs], [run[2] for run in runs]
    ours_s, ours_mib = statistics.median(ours_runs_s), max(run[3] for run in runs)
    references: dict[str, float] = {}
    seconds = {"anomalib": None, "sklearn": None}
    peak_mib = {"ours": ours_mib, "anomalib": None, "sklearn": None}
    aupro_class = load_anomalib_aupro() if with_references else None
    if aupro_class is not None:
        references["pixel_aupro"], seconds["anomalib"], _, peak_mib["anomalib"] = timed(
            lambda: anomalib_aupro(aupro_class, masks, maps, fpr_limit)
        )
    if with_references:
        (references["pixel_auroc"], references["pixel_ap"]), seconds["sklearn"], _, peak_mib["sklearn"] = timed(
            lambda: sklearn_auroc_ap(masks, maps)
        )
    differences = [abs(ours[key] - value) for key, value in references.items()]
    return {
        "filo_source": str(Path(filo.__file__).parent),
        "images": images,
        "size": size,
        "ours": dict(ours),
        "references": references,
        "ours_s": ours_s,
        "ours_runs_s": ours_runs_s,
        "ours_cpu_s": statistics.median(ours_runs_cpu_s),
        "ours_runs_cpu_s": ours_runs_cpu_s,
        "anomalib_s": seconds["anomalib"],
        "sklearn_s": seconds["sklearn"],
        "peak_mib": peak_mib,
        "max_abs_diff": max(differences) if differences else None,
    }


def print_table(outcome: dict[str, Any]) -> None:
    """Print values with their differences, then seconds, ratios and peak memory."""
    print(f"\n{'metric':<22}{'ours':>12}{'reference':>12}{'abs diff':>12}")
    for key, value in outcome["ours"].items():
        reference = outcome["references"].get(key)
        shown = ("", "") if reference is None else (f"{reference:.6f}", f"{abs(value - reference):.2e}")
        print(f"{key:<22}{value:>12.6f}{shown[0]:>12}{shown[1]:>12}")
    print(f"\n{'contender':<34}{'seconds':>10}{'x ours':>10}{'peak MiB':>10}")
    rows = [(f"ours (5 metrics, median of {len(outcome['ours_runs_s'])})", outcome["ours_s"],
             outcome["peak_mib"]["ours"]),
            ("anomalib AUPRO", outcome["anomalib_s"], outcome["peak_mib"]["anomalib"]),
            ("scikit-learn AUROC + AP", outcome["sklearn_s"], outcome["peak_mib"]["sklearn"])]
    for name, seconds, mib in rows:
        if seconds is None:
            print(f"{name:<34}{'skipped':>10}")
            continue
        print(f"{name:<34}{seconds:>10.2f}{seconds / outcome['ours_s']:>10.2f}{mib:>10.0f}")
    print("ours, every run (wall s): " + ", ".join(f"{seconds:.1f}" for seconds in outcome["ours_runs_s"])
          + "; CPU s: " + ", ".join(f"{seconds:.1f}" for seconds in outcome["ours_runs_cpu_s"]))
    if outcome["max_abs_diff"] is not None:
        print(f"\nmax abs diff vs references: {outcome['max_abs_diff']:.2e}")


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the benchmark, print the table and optionally write the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="number of maps (VisA test set: 2162)")
    parser.add_argument("--size", type=int, default=518, help="map height and width (FiLo: 518)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fpr-limit", type=float, default=0.3)
    parser.add_argument("--skip-references", action="store_true",
                        help="time ours only (for sizes where anomalib/scikit-learn would not fit in memory)")
    parser.add_argument("--repeats", type=int, default=1, help="time ours this many times; report the median")
    parser.add_argument("--json", type=Path, help="write the values, seconds, peak memory and filo source")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    outcome = run(args.images, args.size, args.seed, args.fpr_limit, not args.skip_references, args.repeats)
    print_table(outcome)
    if args.json:
        atomic_write_text(args.json, json.dumps(outcome, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
