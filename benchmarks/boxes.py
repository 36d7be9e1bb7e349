"""Benchmark the boxes stage with the tiny random Grounding DINO (meaningless boxes, real compute).

Measures (a) the stage's throughput in images/s (image loading + batched inference +
rules + shard/artifact writing), and (b) what an evaluation loop spends getting the
boxes of every image through the one box-source interface: from the cache
(``ArtifactBoxes``: load once + per-image lookup, keep mask and position) versus running the
detector inline per image (``DetectorBoxes``) as the reference code does.

    python benchmarks/boxes.py --images 16 --image-size 518 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from filo.boxes.detector import load_detector, load_detector_image
from filo.boxes.extract import extract_boxes
from filo.boxes.rules import BoxRules, build_caption
from filo.boxes.source import ArtifactBoxes, BoxSource, DetectorBoxes, ImageRef, positions_and_masks
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


def time_box_source(open_source: Callable[[], BoxSource], images: list[ImageRef], map_size: int) -> float:
    """Seconds to open a box source and get the position and keep mask of every image, one at a time."""
    start = time.perf_counter()
    source = open_source()
    for image in images:
        positions_and_masks(source, [image], DESCRIPTIONS, map_size)
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
        images = [ImageRef(f"{CATEGORY}/test/scratch/{index:03d}.png", str(path)) for index, path in enumerate(paths)]
        results = {
            "images_per_s": args.images / extraction_s,
            "eval_with_cache_s": time_box_source(lambda: ArtifactBoxes.load(boxes_path, rule=rules.rule), images,
                                                 args.image_size),
            "eval_inline_s": time_box_source(lambda: DetectorBoxes(detector, rules), images, args.image_size),
        }
    print(f"device={device} images={args.images} image_size={args.image_size} batch_size={args.batch_size}")
    for name, value in results.items():
        print(f"{name:>18}: {value:.4f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
