"""`filo boxes`: Grounding DINO boxes for every test image of a manifest; `filo boxes-detector`: its detector folder.

Argument parsing only, over `filo.boxes.stage` (settings: params sections `boxes` and
`detector`). `filo boxes-detector --kind tiny` builds a tiny random detector for the
offline demo (its boxes are meaningless); `--kind grounding_dino --checkpoint ... --text-encoder ...`
checks and records a real one.
"""

from __future__ import annotations

import argparse

from filo.boxes.stage import BoxesSettings, DetectorSettings
from filo.settings import (
    InputPath,
    OutputPath,
    add_params_argument,
    add_settings_arguments,
    settings_from_args,
)


def _run_boxes(args: argparse.Namespace) -> int:
    from filo.boxes.stage import extract_boxes_stage

    extract_boxes_stage(args.manifest, args.descriptions, args.detector, args.out,
                        settings_from_args(args, BoxesSettings))
    return 0


def _run_detector(args: argparse.Namespace) -> int:
    from filo.boxes.stage import prepare_detector

    path = prepare_detector(args.out, settings_from_args(args, DetectorSettings))
    print(f"detector folder written to {path}")
    return 0


def register(subparsers) -> None:
    """Add the `boxes` and `boxes-detector` subcommands."""
    parser = subparsers.add_parser(
        "boxes",
        help="extract Grounding DINO boxes for the test images of a manifest (resumable)",
        description="Run Grounding DINO over the test images of a manifest with the FiLo caption and rules; "
        "write one Parquet row per kept box. Progress is kept in OUT.shards/ and resumed on restart.",
    )
    parser.add_argument("--manifest", type=InputPath, required=True, help="manifest Parquet (from `filo data index`)")
    parser.add_argument("--descriptions", type=InputPath, required=True, help="descriptions JSON (from `filo describe`)")
    parser.add_argument("--detector", type=InputPath, required=True, help="detector folder (from `filo boxes-detector`)")
    parser.add_argument("--out", type=OutputPath, required=True, help="output Parquet path")
    add_params_argument(parser)
    add_settings_arguments(parser.add_argument_group("boxes settings (params section `boxes`)"), BoxesSettings)
    parser.set_defaults(func=_run_boxes)

    detector = subparsers.add_parser(
        "boxes-detector",
        help="make the detector folder `filo boxes` runs: a tiny random one (demo) or a checked real one",
        description="Write DIR/detector.json (and, for the tiny demo detector, its config, checkpoint and text "
        "encoder, with MEANINGLESS boxes). A real Grounding DINO is loaded once here to check it.",
    )
    detector.add_argument("--out", type=OutputPath, required=True, help="detector folder to write")
    add_params_argument(detector)
    add_settings_arguments(detector.add_argument_group("detector settings (params section `detector`)"),
                           DetectorSettings)
    detector.set_defaults(func=_run_detector)
