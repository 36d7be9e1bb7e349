"""`filo describe`: declared in `filo.descriptions.stage` (`DESCRIBE`)."""

from __future__ import annotations

from filo.descriptions.stage import DESCRIBE

register = DESCRIBE.register
"""Add the `describe` subcommand."""
