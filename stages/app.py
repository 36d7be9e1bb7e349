"""`filo app`: a local web page to inspect predictions, evaluation results and the model registry.

Predict (upload images or name a folder; full-resolution overlays, score against the
calibrated threshold, verdict, descriptions, position, boxes; JSON/CSV export), Results
(a `filo evaluate` output folder: metrics, curves, histograms, every image with its overlay
and ground truth, false positives and negatives) and Models (registered versions, aliases,
gate metrics, calibration, lineage). Works offline: nothing is loaded from the network.
Argument parsing only: the flags are the fields of `filo.app.settings.AppSettings`.
"""

from __future__ import annotations

import argparse

from filo.app.settings import AppSettings
from filo.settings import add_params_argument, add_settings_arguments, settings_from_args


def run(args: argparse.Namespace) -> int:
    """CLI entry: serve the app until interrupted."""
    from filo.app.server import serve

    serve(settings_from_args(args, AppSettings))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `app` subcommand."""
    parser = subparsers.add_parser("app", help="local inspection web page (Predict, Results, Models views)",
                                   description=__doc__.split("\n\n", 1)[1])
    add_params_argument(parser)
    add_settings_arguments(parser.add_argument_group("app settings (params section `app`)"), AppSettings)
    parser.set_defaults(func=run)
