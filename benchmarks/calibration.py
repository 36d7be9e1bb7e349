"""How often a registered model's verdict flags good and anomalous images, through `filo predict`'s code path.

    python benchmarks/calibration.py [--model models:/filo@champion] [--json calibration.json]

For each direction of the demo (run from the repository root after `dvc repro`) it predicts
every test image of the direction's evaluation manifest and prints the share of good images
flagged (the false-positive rate the calibration targets) and of anomalous images flagged
(the recall).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from filo.data.manifest import read_manifest
from filo.registry.predict import predict_images

TARGETS = {"mvtec_to_visa": "data/manifests/visa.parquet", "visa_to_mvtec": "data/manifests/mvtec.parquet"}


def flagged(model: str, manifest: str, label: int, out_dir: Path) -> tuple[int, int]:
    """(flagged, total) over the test images of `manifest` with `label`."""
    frame = read_manifest(manifest)
    rows = frame[(frame["split"] == "test") & (frame["label"] == label)]
    hits = total = 0
    for category, group in rows.groupby("category", sort=False):
        for prediction in predict_images(group["image_path"].tolist(), category, model=model, out_dir=out_dir,
                                         progress=False):
            total += 1
            hits += prediction.verdict == "anomalous"
    return hits, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models:/filo@champion", help="registered model URI, bundle or checkpoint")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as out_dir:
        for direction, manifest in TARGETS.items():
            good, anomalous = (flagged(args.model, manifest, label, Path(out_dir)) for label in (0, 1))
            results[direction] = {"good_flagged": good, "anomalous_flagged": anomalous}
    print(f"{'direction':<16} {'good flagged (FPR)':>22} {'anomalous flagged (recall)':>28}")
    for direction, counts in results.items():
        (g, gn), (a, an) = counts["good_flagged"], counts["anomalous_flagged"]
        print(f"{direction:<16} {f'{g}/{gn} = {g / gn:.1%}':>22} {f'{a}/{an} = {a / an:.1%}':>28}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
