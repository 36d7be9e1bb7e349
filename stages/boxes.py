"""`filo boxes`: Grounding DINO boxes for every test image of a manifest, cached as Parquet.

`filo boxes-make-tiny --out DIR` creates a tiny random-weight detector (config,
checkpoint, text encoder) for the offline demo; its boxes are meaningless.

Parameters (names for params.yaml): box_threshold, text_threshold, area_threshold,
image_size, rule, batch_size, shard_size, strict.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from filo.boxes.geometry import RULES
from filo.boxes.rules import AUTHORS_RULES, BoxRules

logger = logging.getLogger(__name__)


def run_boxes(
    manifest: str | os.PathLike,
    descriptions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: str | os.PathLike,
    checkpoint: str | os.PathLike,
    text_encoder: str | None = None,
    device: str | None = None,
    rules: BoxRules = AUTHORS_RULES,
    batch_size: int = 4,
    shard_size: int = 64,
    strict: bool = False,
    trust_checkpoint: bool = False,
) -> Path:
    """Load the detector and extract the boxes artifact for `manifest` into `out` (resumable)."""
    from filo.boxes.detector import load_detector
    from filo.boxes.extract import extract_boxes

    detector = load_detector(
        config, checkpoint, text_encoder=text_encoder, device=device, trust_pickle=trust_checkpoint
    )
    logger.info("detector %s on %s", detector.identity, detector.device)
    path = extract_boxes(
        manifest,
        descriptions,
        out,
        detector,
        rules=rules,
        batch_size=batch_size,
        shard_size=shard_size,
        strict=strict,
    )
    logger.info("wrote boxes to %s", path)
    return path


def make_tiny(out: str | os.PathLike, *, descriptions: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Create the tiny demo detector in `out`; vocabulary words from `descriptions` or the shipped defaults."""
    from filo.boxes.tiny import make_tiny_detector

    if descriptions is not None:
        from filo.descriptions import load_descriptions

        table = load_descriptions(descriptions)
    else:
        from filo.descriptions.defaults import load_shipped_defaults

        table = load_shipped_defaults()
    texts = [text for entry in table.values() for text in entry.descriptions]
    path = make_tiny_detector(out, texts=texts, seed=seed)
    logger.info("wrote the tiny demo detector (meaningless boxes) to %s", path)
    return path


def _run_boxes_cli(args: argparse.Namespace) -> int:
    """CLI wrapper of run_boxes."""
    rules = BoxRules(
        box_threshold=args.box_threshold,
        text_threshold=args.text_threshold,
        area_threshold=args.area_threshold,
        image_size=args.image_size,
        rule=args.rule,
    )
    run_boxes(
        args.manifest,
        args.descriptions,
        args.out,
        config=args.config,
        checkpoint=args.checkpoint,
        text_encoder=args.text_encoder,
        device=args.device,
        rules=rules,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        strict=args.strict,
        trust_checkpoint=args.trust_checkpoint,
    )
    return 0


def _make_tiny_cli(args: argparse.Namespace) -> int:
    """CLI wrapper of make_tiny."""
    make_tiny(args.out, descriptions=args.descriptions, seed=args.seed)
    return 0


def register(subparsers) -> None:
    """Add the `boxes` and `boxes-make-tiny` subcommands."""
    defaults = AUTHORS_RULES
    parser = subparsers.add_parser(
        "boxes",
        help="extract Grounding DINO boxes for the test images of a manifest (resumable)",
        description="Run Grounding DINO over the test images of a manifest with the FiLo caption and rules; "
        "write one Parquet row per kept box. Progress is kept in OUT.shards/ and resumed on restart.",
    )
    parser.add_argument("--manifest", required=True, help="manifest Parquet (from `filo data index`)")
    parser.add_argument("--descriptions", required=True, help="descriptions JSON (from `filo describe`)")
    parser.add_argument("--out", required=True, help="output Parquet path")
    parser.add_argument("--config", required=True, help="groundingdino-py config .py, or a bundled config name (GroundingDINO_SwinT_OGC)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint .pth ({'model': state_dict} or a state dict)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow a checkpoint that holds pickled Python objects (only for files you trust)")
    parser.add_argument("--text-encoder", help="local BERT directory (default: text_encoder_type of the config)")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--box-threshold", type=float, default=defaults.box_threshold,
                        help="keep boxes whose max token probability exceeds this")
    parser.add_argument("--text-threshold", type=float, default=defaults.text_threshold,
                        help="token probability for a box's phrase (the reference code uses its box threshold here)")
    parser.add_argument("--area-threshold", type=float, default=defaults.area_threshold,
                        help="keep boxes whose normalized area w*h is below this")
    parser.add_argument("--image-size", type=int, default=defaults.image_size,
                        help="shorter image side for the detector and side of the position grid")
    parser.add_argument("--rule", choices=RULES, default=defaults.rule,
                        help="'authors' reproduces the reference code's quirks; 'sane' uses float logits and "
                        "half-open cells")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--shard-size", type=int, default=64, help="images per progress shard")
    parser.add_argument("--strict", action="store_true", help="fail on an unreadable image instead of recording it")
    parser.set_defaults(func=_run_boxes_cli)

    tiny = subparsers.add_parser(
        "boxes-make-tiny",
        help="create a tiny random Grounding DINO for the offline demo (its boxes are meaningless)",
        description="Create DIR/GroundingDINO_tiny_demo.py, DIR/checkpoint.pth and DIR/text_encoder/ from "
        "groundingdino-py's model code with seeded random weights. Its boxes are MEANINGLESS: it only lets "
        "`filo boxes` run without downloaded weights.",
    )
    tiny.add_argument("--out", required=True, help="output directory")
    tiny.add_argument("--descriptions", help="descriptions JSON whose words join the vocabulary "
                      "(default: the shipped description tables)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=_make_tiny_cli)
