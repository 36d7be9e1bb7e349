"""`filo register`: declared in `filo.registry.stage` (`REGISTER`; settings: params section `register`)."""

from __future__ import annotations

from filo.registry.stage import REGISTER

register = REGISTER.register
"""Add the `register` subcommand."""
