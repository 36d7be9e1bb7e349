"""The doctor tests reuse the data tests' local HTTP server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
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
