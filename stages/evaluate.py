"""`filo evaluate`: declared in `filo.evaluation.stage` (`EVALUATE`; settings: params section `evaluate`)."""

from __future__ import annotations

from filo.evaluation.stage import EVALUATE

register = EVALUATE.register
"""Add the `evaluate` subcommand."""
