"""`filo train`: declared in `filo.training.stage` (`TRAIN`; settings: params section `train`)."""

from __future__ import annotations

from filo.training.stage import TRAIN

register = TRAIN.register
"""Add the `train` subcommand."""
