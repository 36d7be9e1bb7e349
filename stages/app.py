"""`filo app`: a local web page to inspect predictions, evaluation results and the model registry.

Predict (upload images or name a folder; full-resolution overlays, score against the
calibrated threshold, verdict, descriptions, position, boxes; JSON/CSV export), Results
(a `filo evaluate` output folder: metrics, curves, histograms, every image with its overlay
and ground truth, false positives and negatives) and Models (registered versions, aliases,
gate metrics, calibration, lineage). Works offline: nothing is loaded from the network.
"""

from __future__ import annotations

import argparse
import dataclasses


def run(args: argparse.Namespace) -> int:
    """CLI entry: serve the app until interrupted."""
    from filo.app.server import serve
    from filo.app.settings import AppSettings

    serve(AppSettings(**{field.name: getattr(args, field.name) for field in dataclasses.fields(AppSettings)}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `app` subcommand (flags and defaults from `filo.app.settings.AppSettings`)."""
    from filo.app.settings import AppSettings

    defaults = AppSettings()
    parser = subparsers.add_parser("app", help="local inspection web page (Predict, Results, Models views)",
                                   description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--host", default=defaults.host, help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="port (default: %(default)s)")
    parser.add_argument("--model", default=defaults.model, help="model selected at start (default: %(default)s)")
    parser.add_argument("--results-dir", default=defaults.results_dir,
                        help="folder of `filo evaluate` outputs (default: %(default)s)")
    parser.add_argument("--manifests-dir", default=defaults.manifests_dir,
                        help="folder of dataset manifests, for ground-truth masks (default: %(default)s)")
    parser.add_argument("--max-upload-mb", type=float, default=defaults.max_upload_mb,
                        help="largest upload accepted (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels,
                        help="largest image accepted, in pixels (default: %(default)s)")
    parser.add_argument("--page-size", type=int, default=defaults.page_size,
                        help="images per page of a folder or result table (default: %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="torch device (default: cuda when available)")
    parser.set_defaults(func=run)
