"""Who may use `filo app` and what it may read: the folder roots, the token and the exposure check.

`Roots` confines every path a request names (a folder to predict, a model path, a file to
serve) to the folders of the `app.roots` setting; a path outside them is refused with the
same message whether or not it exists. `check_exposure` refuses to serve a non-loopback
address without a token (or an explicit `allow_anonymous`); `TokenCheck` compares the
token a request presents in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from filo.errors import FiloError

TOKEN_ENV = "FILO_APP_TOKEN"
"""Environment variable that holds the token when `--token` is not given (keeps it out of `ps`)."""
COOKIE = "filo_session"
"""Cookie the login form sets: a keyed hash of the token, never the token itself."""
LOOPBACK_NAMES = ("localhost",)


class AccessDenied(FiloError):
    """A request named a path outside `app.roots`, or came without the token (HTTP 403/401)."""


def is_loopback(host: str) -> bool:
    """True when `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_token(token: str | None) -> str | None:
    """The token the app requires: `--token`, else $FILO_APP_TOKEN, else none."""
    return token or os.environ.get(TOKEN_ENV) or None


def check_exposure(host: str, token: str | None, allow_anonymous: bool) -> None:
    """FiloError (one line) when the app would listen beyond this machine with nobody checking who asks."""
    if not is_loopback(host) and token is None and not allow_anonymous:
        raise FiloError(f"--host {host} is reachable from other machines: give --token (or ${TOKEN_ENV}) "
                        "so requests must present it, or --allow-anonymous to serve without one")


class TokenCheck:
    """Constant-time checks of a request's `Authorization: Bearer` header or login cookie against the token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")
        self.cookie_value = hmac.new(self._token, b"filo app session", hashlib.sha256).hexdigest()

    def bearer(self, header: str | None) -> bool:
        """True when `header` is `Bearer <token>`."""
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode("utf-8"), self._token)

    def password(self, value: str) -> bool:
        """True when the login form's `value` is the token."""
        return hmac.compare_digest(value.encode("utf-8"), self._token)

    def cookie(self, value: str | None) -> bool:
        """True when the session cookie is the one the login form set."""
        return hmac.compare_digest((value or "").encode("utf-8"), self.cookie_value.encode("utf-8"))


class Roots:
    """The folders (`app.roots`) whose files requests may read, plus the app's own scratch folder."""

    def __init__(self, roots: Iterable[str | Path], scratch: Path) -> None:
        self.names = tuple(str(root) for root in roots)
        self._folders = tuple(Path(root).resolve() for root in self.names) + (scratch.resolve(),)

    def allows(self, path: str | Path) -> bool:
        """True when `path`, with symlinks and `..` resolved, lies under one of the roots."""
        resolved = Path(os.path.abspath(path)).resolve()
        return any(resolved.is_relative_to(folder) for folder in self._folders)

    def require(self, path: str | Path, what: str) -> Path:
        """`path` resolved, or AccessDenied that names the setting (and says nothing of whether it exists)."""
        if not self.allows(path):
            raise AccessDenied(f"{what} {str(path)!r} is outside app.roots {list(self.names)}: filo app only "
                               "reads folders listed in the app.roots setting (--roots)")
        return Path(os.path.abspath(path)).resolve()
