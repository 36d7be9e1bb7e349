"""`filo app`: a local, offline inspection web page over filo's models and results.

Modules: `settings` (the frozen settings with their defaults), `service` (everything the
page shows, as plain data: predictions of uploads and folders, evaluation results, the
registry), `access` (app.roots, the token, the exposure check), `limits` (bounded forwards,
429 with Retry-After), `server` (the FastAPI routes and server-rendered pages, `templates/`).

Public (`__all__`): its settings and the server. They are imported on first use, so that importing one module
of the package loads no other.
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = [
    "AppSettings",
    "create_app",
    "serve",
]

_LAZY = {
    "AppSettings": "filo.app.settings",
    "create_app": "filo.app.server",
    "serve": "filo.app.server",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
