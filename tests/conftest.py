"""Fixtures shared by several test folders: a Range-capable HTTP server on 127.0.0.1 (dataset host stand-in)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_server import RangeHTTPServer


@pytest.fixture
def http_server() -> Iterator[RangeHTTPServer]:
    """A Range-capable HTTP server on 127.0.0.1 serving in-memory files; shut down after the test."""
    server = RangeHTTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
