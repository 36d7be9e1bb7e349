"""`filo predict`: score images of one category and explain them (JSON per image + heat-map overlays).

Each image gets one JSON line on stdout: score, verdict (when a threshold is known), the
position of the best Grounding DINO box (only with --detector-config/--detector-checkpoint),
the closest fine-grained descriptions with their similarities, and the heat-map overlay PNG
written into --out-dir at the input image's size (with the boxes, in its pixels); --save-maps
also writes the raw map over the image as .npy (float32) or a 16-bit PNG next to it. An unreadable image gets a line with "error" and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """CLI entry: print one JSON object per image; exit code 1 when any image could not be read."""
    from filo.registry.predict import predict_images

    failed = 0
    for prediction in predict_images(
        args.inputs,
        args.category,
        model=args.model,
        descriptions=args.descriptions,
        threshold=args.threshold,
        verdict=args.verdict,
        detector_config=args.detector_config,
        detector_checkpoint=args.detector_checkpoint,
        text_encoder=args.text_encoder,
        box_image_size=args.box_image_size,
        out_dir=args.out_dir,
        batch_size=args.batch_size,
        device=args.device,
        raw_maps=args.save_maps,
        runtime=args.runtime,
    ):
        failed += prediction.error is not None
        print(json.dumps(prediction.to_dict()), flush=True)
    if failed:
        print(f"filo predict: {failed} image(s) could not be read (see their \"error\")", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `predict` subcommand."""
    from filo.export.runtimes import RUNTIMES

    parser = subparsers.add_parser(
        "predict",
        help="score images of a category: JSON per image (score, verdict, descriptions) + heat-map PNGs",
        description="Predict image files or folders (recursive) of one category with a registered model "
        "(default: the champion), a bundle folder or a checkpoint. A category the model's bundle does not "
        "describe uses --descriptions, else the descriptions shipped with filo, else filo's generic defect "
        "descriptions (marked 'generic'). A category calibrated with `filo calibrate --register` uses its own "
        "threshold.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and/or folders")
    parser.add_argument("--category", required=True, help='category of the images, e.g. "metal nut" or pcb1')
    parser.add_argument("--model", default="models:/filo@champion",
                        help="models:/NAME@ALIAS, models:/NAME/VERSION, a bundle folder or a checkpoint "
                        "(default: %(default)s, from $MLFLOW_TRACKING_URI or ./mlflow.db)")
    parser.add_argument("--descriptions", type=Path,
                        help="descriptions: a `filo describe` JSON artifact or a YAML file "
                        "(categories: {name: [description, ...]})")
    verdict = parser.add_mutually_exclusive_group()
    verdict.add_argument("--threshold", type=float, help="verdict threshold (anomalous when score >= it)")
    verdict.add_argument("--verdict", type=Path,
                         help="verdict.json written by `filo evaluate` or `filo calibrate --out`")
    boxes = parser.add_argument_group("live Grounding DINO boxes (optional)")
    boxes.add_argument("--detector-config", type=Path, help="Grounding DINO config (.py)")
    boxes.add_argument("--detector-checkpoint", type=Path, help="Grounding DINO checkpoint")
    boxes.add_argument("--text-encoder", help="local BERT folder of the detector's text encoder")
    boxes.add_argument("--box-image-size", type=int, help="detector input size (default: 518, as the authors)")
    parser.add_argument("--out-dir", type=Path,
                        help="folder for the heat-map overlays (default: predictions/)")
    parser.add_argument("--save-maps", metavar="{npy,png16}",
                        help="also save each raw map over the original image next to its overlay: npy "
                        "(float32, NaN where the model saw nothing) or png16 (16-bit, map x 65535)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: %(default)s)")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="torch",
                        help="torch: eager on a checkpoint; onnx: onnxruntime (CPU) on a `filo export` folder "
                        "given as --model; openvino: OpenVINO (CPU, the openvino extra) on such a folder "
                        "(default: %(default)s)")
    parser.set_defaults(func=run)
