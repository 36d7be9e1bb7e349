"""`filo calibrate`: a category's verdict threshold from a folder of its good images only.

Argument parsing only, over `filo.registry.calibration.calibrate_category`: the images are
scored as `filo predict` and the registered model score them, and the threshold flags at
most --target-fpr of them. --out writes the verdict.json `filo predict --verdict` reads;
--register stores it on the registered model version as the category's own threshold,
which predict, the app and the REST endpoint then use. Nothing is written when the folder
is empty or holds files that are not images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """CLI entry: calibrate, write and/or register the verdict, print it as JSON."""
    from filo.errors import FiloError
    from filo.evaluation.verdict import write_verdict
    from filo.registry.calibration import calibrate_category
    from filo.registry.category_calibrations import register_category_verdict
    from filo.registry.versions import MODELS_SCHEME

    if args.register and not str(args.model).startswith(MODELS_SCHEME):
        raise FiloError(f"--register stores the calibration on a registered model version; --model {args.model} is "
                        "not one: give models:/NAME@ALIAS or models:/NAME/VERSION, or use --out FILE alone")
    verdict = calibrate_category(args.model, args.good_dir, args.category, args.target_fpr,
                                 descriptions=args.descriptions, device=args.device)
    document = verdict.to_dict()
    if args.out is not None:
        write_verdict(args.out, verdict)
        document["written_to"] = str(args.out)
    if args.register:
        name, version = register_category_verdict(verdict)
        document["registered_on"] = f"models:/{name}/{version}"
    print(json.dumps(document, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `calibrate` subcommand."""
    from filo.registry.settings import DEFAULT_MODEL_URI, DEFAULT_TARGET_FPR

    parser = subparsers.add_parser(
        "calibrate",
        help="a category's verdict threshold from a folder of its good images (target false-positive rate)",
        description="Score a folder of good images of one category as `filo predict` does and choose the "
        "threshold that flags at most --target-fpr of them. Prints the verdict; --out writes it for "
        "`filo predict --verdict`, --register stores it on the registered model version as that category's "
        "threshold (used by predict, the app and the REST endpoint).",
    )
    parser.add_argument("good_dir", type=Path, metavar="GOOD_DIR", help="folder of good images (searched recursively)")
    parser.add_argument("--category", required=True, help='category of the images, e.g. "gear wheel"')
    parser.add_argument("--model", default=DEFAULT_MODEL_URI,
                        help="models:/NAME@ALIAS, models:/NAME/VERSION, a bundle folder or a checkpoint "
                        "(default: %(default)s; --register needs a registered model)")
    parser.add_argument("--target-fpr", type=float, default=DEFAULT_TARGET_FPR,
                        help="share of good images the threshold may flag (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="write the verdict.json here (for `filo predict --verdict`)")
    parser.add_argument("--register", action="store_true",
                        help="store the verdict on the registered model version as the category's threshold")
    parser.add_argument("--descriptions", type=Path,
                        help="descriptions as for `filo predict` (a `filo describe` JSON artifact or a YAML file)")
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.set_defaults(func=run)
