"""`filo boxes` and `filo boxes-detector`: declared in `filo.boxes.stage` (`BOXES`, `DETECTOR`).

`filo boxes-detector` with `--kind tiny` builds a tiny random detector for the offline demo
(its boxes are meaningless); `--kind grounding_dino --checkpoint ... --text-encoder ...`
checks and records a real one.
"""

from __future__ import annotations

import argparse

from filo.boxes.stage import BOXES, DETECTOR


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `boxes` and `boxes-detector` subcommands."""
    BOXES.register(subparsers)
    DETECTOR.register(subparsers)
