"""Benchmark the boxes stage with the tiny random Grounding DINO (meaningless boxes, real compute).

Measures (a) the stage's throughput in images/s (image loading + batched inference +
rules + shard/artifact writing), and (b) what an evaluation loop spends getting the
boxes of every image: from the cache (``load_boxes`` once + per-image lookup, keep mask
and position) versus running the detector inline per image as the reference code does.

    python benchmarks/boxes.py --images 16 --image-size 518 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from filo.boxes.artifact import load_boxes
from filo.boxes.detector import load_detector, load_detector_image
from filo.boxes.extract import extract_boxes
from filo.boxes.geometry import keep_mask
from filo.boxes.rules import GENERAL_WORDS, BoxRules, build_caption, decide_image
from filo.boxes.tiny import CHECKPOINT_FILE, CONFIG_FILE, TEXT_ENCODER_DIR, make_tiny_detector
from filo.data.manifest import write_manifest
from filo.device import resolve_device

CATEGORY = "woven_fabric"
DESCRIPTIONS = ["scratch", "hole", "colour stain", "crack"]


def write_benchmark_dataset(root: Path, n_images: int, side: int) -> tuple[Path, Path, list[Path]]:
    """Random-noise test images of one category, with their manifest and descriptions file."""
    rng = np.random.default_rng(0)
    rows, paths = [], []
    for index in range(n_images):
        image_id = f"{CATEGORY}/test/scratch/{index:03d}.png"
        path = root / "data" / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)).save(path)
        paths.append(path)
        rows.append(
            {"image_id": image_id, "dataset": "bench", "category": CATEGORY, "split": "test", "label": 1,
             "defect_type": "scratch", "image_path": str(path), "mask_path": None, "width": side, "height": side}
        )
    manifest = root / "manifest.parquet"
    write_manifest(pd.DataFrame(rows), manifest, root=str(root / "data"), has_masks=False)
    descriptions = root / "descriptions.json"
    descriptions.write_text(json.dumps({"schema_version": 1, "categories": {
        CATEGORY: {"descriptions": DESCRIPTIONS, "source": "user", "cache_key": None}}}))
    return manifest, descriptions, paths


def time_cached_lookup(boxes_path: Path, image_ids: list[str], map_size: int) -> float:
    """Seconds to load the cache and get keep mask + position of every image."""
    start = time.perf_counter()
    cache = load_boxes(boxes_path)
    for image_id in image_ids:
        entry = cache[image_id]
        keep_mask(entry.boxes, map_size, map_size)
        _ = entry.position
    return time.perf_counter() - start


def time_inline_detection(detector, paths: list[Path], rules: BoxRules) -> float:
    """Seconds to run the detector and the rules per image (batch size 1), as the reference evaluation does."""
    caption = build_caption(DESCRIPTIONS)
    decode = detector.phrase_decoder(caption)
    words = (*DESCRIPTIONS, *GENERAL_WORDS)
    start = time.perf_counter()
    for path in paths:
        probs, boxes = detector.predict(load_detector_image(path, rules.image_size)[None], caption)
        decision = decide_image(probs[0], boxes[0], decode, words, rules)
        matched = np.array([box.xyxy for box in decision.kept if box.matched]).reshape(-1, 4)
        keep_mask(matched, rules.image_size, rules.image_size)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print (and optionally save) the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=518, help="detector input / position grid size")
    parser.add_argument("--source-side", type=int, default=256, help="side of the generated images")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    rules = BoxRules(image_size=args.image_size)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tiny = make_tiny_detector(root / "tiny", texts=DESCRIPTIONS)
        detector = load_detector(
            tiny / CONFIG_FILE, tiny / CHECKPOINT_FILE, text_encoder=str(tiny / TEXT_ENCODER_DIR), device=device
        )
        manifest, descriptions, paths = write_benchmark_dataset(root, args.images, args.source_side)
        detector.predict(load_detector_image(paths[0], args.image_size)[None], build_caption(DESCRIPTIONS))  # warm-up

        start = time.perf_counter()
        boxes_path = extract_boxes(manifest, descriptions, root / "boxes.parquet", detector, rules=rules,
                                   batch_size=args.batch_size)
        extraction_s = time.perf_counter() - start
        image_ids = [f"{CATEGORY}/test/scratch/{index:03d}.png" for index in range(args.images)]
        results = {
            "images_per_s": args.images / extraction_s,
            "eval_with_cache_s": time_cached_lookup(boxes_path, image_ids, args.image_size),
            "eval_inline_s": time_inline_detection(detector, paths, rules),
        }
    print(f"device={device} images={args.images} image_size={args.image_size} batch_size={args.batch_size}")
    for name, value in results.items():
        print(f"{name:>18}: {value:.4f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
