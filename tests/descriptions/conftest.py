"""Fixtures of the descriptions tests: a local chat completions server and a sentinel API key."""

from __future__ import annotations

import pytest
from fake_chat_server import API_KEY_SENTINEL, FakeChatServer


@pytest.fixture
def chat_server():
    """A running FakeChatServer; set `.script` before making requests."""
    server = FakeChatServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api_key(monkeypatch) -> str:
    """OPENAI_API_KEY set to a unique sentinel for the test."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY_SENTINEL)
    return API_KEY_SENTINEL
