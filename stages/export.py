"""`filo export`: write one category's model as a self-contained graph run by onnxruntime.

The export folder holds the graph (text prompts of the category baked in; vision tower,
heads, adapter, prompt conditioning and map post-processing in the graph), the category's
descriptions and verdict threshold, and a manifest with the source model version and a
content hash. Run it with `filo predict --runtime onnx --model DIR`. Argument parsing only,
over `filo.registry.exporting.export_model`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """CLI entry: export, print the manifest's summary as JSON."""
    from filo.registry.exporting import export_model

    exported = export_model(args.model, args.category, args.out, format=args.format,
                            descriptions=args.descriptions, threshold=args.threshold)
    manifest = exported.manifest
    print(json.dumps({"out": str(exported.folder), "category": exported.category, "format": exported.format,
                      "threshold": exported.threshold, "source": manifest["source"],
                      "content_sha256": manifest["content_sha256"]}, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    from filo.export.artifact import FORMATS

    parser = subparsers.add_parser(
        "export",
        help="export one category's model as an ONNX graph (run with `filo predict --runtime onnx`)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--model", default="models:/filo@champion",
                        help="models:/NAME@ALIAS, models:/NAME/VERSION, a bundle folder or a checkpoint "
                        "(default: %(default)s)")
    parser.add_argument("--category", required=True, help='category the export predicts, e.g. "metal nut" or pcb1')
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="graph format (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="export folder (replaced atomically)")
    parser.add_argument("--descriptions", type=Path,
                        help="descriptions to bake in: a `filo describe` JSON artifact or a YAML file")
    parser.add_argument("--threshold", type=float, help="verdict threshold to carry instead of the model's")
    parser.set_defaults(func=run)
