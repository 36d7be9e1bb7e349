"""The LLM source against a real local chat completions server: retries, validation, cache."""

from __future__ import annotations

import json
import time

import pytest
from fake_chat_server import Reply, chat_reply, error_reply

from filo.descriptions import LLMSettings, resolve_descriptions
from filo.errors import FiloError

GOOD_REPLY = '{"descriptions": ["1. Cracked rim", "Dent", "dent", "- Scratch on the PCB surface.", ""]}'
GOOD_DESCRIPTIONS = ("cracked rim", "dent", "scratch on the PCB surface")


def settings(server, **overrides) -> LLMSettings:
    """Fast-failing settings pointed at the local server."""
    values = {
        "model": "test-model",
        "base_url": server.base_url,
        "request_timeout_s": 2.0,
        "max_attempts": 3,
        "retry_budget_s": 10.0,
        "backoff_base_s": 0.01,
    }
    return LLMSettings(**{**values, **overrides})


def resolve_with_llm(server, cache_dir, **overrides):
    """Describe metal_nut from the cache or the LLM only."""
    table = resolve_descriptions(
        ["metal_nut"], source_order=("cache", "llm"), llm=settings(server, **overrides), cache_dir=cache_dir
    )
    return table["metal_nut"]


def cache_entries(cache_dir) -> list:
    """The cache entry files (rejected replies excluded)."""
    return [path for path in cache_dir.rglob("*.json") if "rejected" not in path.parts]


def test_happy_path_normalizes_caches_and_sends_the_request_we_expect(chat_server, api_key, tmp_path):
    chat_server.script = [chat_reply(GOOD_REPLY)]
    entry = resolve_with_llm(chat_server, tmp_path / "cache")
    assert entry.descriptions == GOOD_DESCRIPTIONS
    assert entry.source == "llm:test-model"
    assert len(entry.cache_key) == 64
    assert chat_server.calls == 1
    request = chat_server.requests[0]["json"]
    assert request["model"] == "test-model"
    assert request["temperature"] == 0.0
    assert request["response_format"] == {"type": "json_object"}
    assert '"metal nut"' in request["messages"][-1]["content"]
    assert chat_server.authorization == [f"Bearer {api_key}"]
    [entry_file] = cache_entries(tmp_path / "cache")
    assert entry_file.stem == entry.cache_key
    assert json.loads(entry_file.read_text())["descriptions"] == list(GOOD_DESCRIPTIONS)


def test_cached_category_makes_no_request_and_needs_no_key(chat_server, api_key, tmp_path, monkeypatch):
    chat_server.script = [chat_reply(GOOD_REPLY)]
    first = resolve_with_llm(chat_server, tmp_path / "cache")
    chat_server.script = [error_reply(500)]
    monkeypatch.delenv("OPENAI_API_KEY")
    second = resolve_with_llm(chat_server, tmp_path / "cache")
    assert second == first
    assert chat_server.calls == 1


def test_generation_parameters_are_part_of_the_cache_key(chat_server, api_key, tmp_path):
    chat_server.script = [chat_reply(GOOD_REPLY)]
    first = resolve_with_llm(chat_server, tmp_path / "cache")
    second = resolve_with_llm(chat_server, tmp_path / "cache", temperature=0.7)
    assert first.cache_key != second.cache_key
    assert chat_server.calls == 2


@pytest.mark.parametrize(
    "content, reason",
    [("this is not JSON", "not valid JSON"), ('{"descriptions": []}', "none of the 0 items"), ("", "empty")],
)
def test_invalid_reply_is_retried_saved_for_inspection_and_never_cached(
    chat_server, api_key, tmp_path, content, reason
):
    chat_server.script = [chat_reply(content)]
    with pytest.raises(FiloError, match=reason) as raised:
        resolve_with_llm(chat_server, tmp_path / "cache")
    assert chat_server.calls == 3
    assert "metal_nut" in str(raised.value)
    rejected = sorted((tmp_path / "cache" / "rejected").iterdir())
    assert len(rejected) == 3
    assert str(rejected[0].parent) in str(raised.value)
    assert all(path.read_text() == content for path in rejected)
    assert cache_entries(tmp_path / "cache") == []


def test_invalid_reply_then_valid_one_succeeds(chat_server, api_key, tmp_path):
    chat_server.script = [chat_reply('["unterminated'), chat_reply('["crack"]')]
    assert resolve_with_llm(chat_server, tmp_path / "cache").descriptions == ("crack",)
    assert chat_server.calls == 2
    assert len(cache_entries(tmp_path / "cache")) == 1


def test_rate_limit_then_success_backs_off_and_retries(chat_server, api_key, tmp_path):
    chat_server.script = [error_reply(429, "slow down"), error_reply(503), chat_reply(GOOD_REPLY)]
    assert resolve_with_llm(chat_server, tmp_path / "cache").descriptions == GOOD_DESCRIPTIONS
    assert chat_server.calls == 3


def test_retry_after_header_is_honoured(chat_server, api_key, tmp_path):
    chat_server.script = [error_reply(429, headers={"Retry-After": "0.4"}), chat_reply(GOOD_REPLY)]
    started = time.monotonic()
    resolve_with_llm(chat_server, tmp_path / "cache")
    assert time.monotonic() - started >= 0.4


def test_timeout_is_retried(chat_server, api_key, tmp_path):
    slow = Reply(body=chat_reply('["late"]').body, delay_s=1.5)
    chat_server.script = [slow, chat_reply('["on time"]')]
    started = time.monotonic()
    entry = resolve_with_llm(chat_server, tmp_path / "cache", request_timeout_s=0.3)
    assert entry.descriptions == ("on time",)
    assert chat_server.calls == 2
    assert time.monotonic() - started < 1.4


def test_persistent_timeouts_fail_within_the_budget(chat_server, api_key, tmp_path):
    chat_server.script = [Reply(body=chat_reply('["late"]').body, delay_s=1.0)]
    started = time.monotonic()
    with pytest.raises(FiloError, match="timed out"):
        resolve_with_llm(chat_server, tmp_path / "cache", request_timeout_s=0.2, max_attempts=2)
    assert chat_server.calls == 2
    assert time.monotonic() - started < 1.5
    assert cache_entries(tmp_path / "cache") == []


def test_total_retry_time_is_bounded(chat_server, api_key, tmp_path):
    chat_server.script = [error_reply(500)]
    started = time.monotonic()
    with pytest.raises(FiloError, match="HTTP 500"):
        resolve_with_llm(
            chat_server, tmp_path / "cache", max_attempts=1000, retry_budget_s=0.5, backoff_base_s=0.05
        )
    assert time.monotonic() - started < 2.0
    assert 2 <= chat_server.calls < 20


def test_unreachable_endpoint_is_retried_then_reported(chat_server, api_key, tmp_path):
    chat_server.stop()  # nothing listens on its port any more
    with pytest.raises(FiloError, match=r"after 2 attempt\(s\), last problem: connection failed"):
        resolve_with_llm(chat_server, tmp_path / "cache", max_attempts=2)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_fails_at_once_with_a_clear_message(chat_server, api_key, tmp_path, status):
    chat_server.script = [error_reply(status, "invalid api key")]
    with pytest.raises(FiloError, match=f"HTTP {status}.*OPENAI_API_KEY"):
        resolve_with_llm(chat_server, tmp_path / "cache")
    assert chat_server.calls == 1


def test_other_client_errors_fail_at_once_naming_the_model(chat_server, api_key, tmp_path):
    chat_server.script = [error_reply(404, "model not found")]
    with pytest.raises(FiloError, match="HTTP 404.*model not found.*'test-model'"):
        resolve_with_llm(chat_server, tmp_path / "cache")
    assert chat_server.calls == 1


def test_missing_key_is_reported_before_any_request(chat_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat_server.script = [chat_reply(GOOD_REPLY)]
    with pytest.raises(FiloError, match="OPENAI_API_KEY is not set"):
        resolve_with_llm(chat_server, tmp_path / "cache")
    assert chat_server.calls == 0


def test_json_mode_can_be_switched_off_and_fenced_lists_are_accepted(chat_server, api_key, tmp_path):
    chat_server.script = [chat_reply('```json\n["Crack", "Hole"]\n```')]
    entry = resolve_with_llm(chat_server, tmp_path / "cache", json_mode=False)
    assert entry.descriptions == ("crack", "hole")
    assert "response_format" not in chat_server.requests[0]["json"]


def test_replies_are_capped_at_max_descriptions(chat_server, api_key, tmp_path):
    chat_server.script = [chat_reply(json.dumps([f"defect {index}" for index in range(30)]))]
    entry = resolve_with_llm(chat_server, tmp_path / "cache", max_descriptions=4)
    assert entry.descriptions == ("defect 0", "defect 1", "defect 2", "defect 3")
