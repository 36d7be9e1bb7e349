"""Concurrent `describe` runs: one LLM call per cache key, and every writer's artifact agrees with the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from filo.descriptions import resolve_descriptions
from filo.descriptions.cache import DescriptionCache
from filo.descriptions.llm import LLMSettings

from .builders import VaryingChatServer, write_manifest_of

CATEGORIES = ["gasket", "widget"]


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-faults")


def _cached(cache_dir, key):
    return DescriptionCache(cache_dir).get(key)


def test_concurrent_writers_share_one_llm_answer_per_key(tmp_path, api_key):
    with VaryingChatServer() as server:
        settings = LLMSettings(model="test-model", base_url=server.base_url, max_attempts=1)
        with ThreadPoolExecutor(4) as pool:
            tables = list(pool.map(
                lambda _: resolve_descriptions(CATEGORIES, llm=settings, cache_dir=tmp_path / "cache"), range(4)))
    assert server.calls == len(CATEGORIES)
    for category in CATEGORIES:
        answers = {table[category].descriptions for table in tables}
        keys = {table[category].cache_key for table in tables}
        assert len(answers) == 1 and len(keys) == 1
        assert _cached(tmp_path / "cache", keys.pop()) == answers.pop()


def test_llm_first_order_still_asks_every_time(tmp_path, api_key):
    with VaryingChatServer(delay_s=0) as server:
        settings = LLMSettings(model="test-model", base_url=server.base_url, max_attempts=1)
        for _ in range(2):
            resolve_descriptions(["gasket"], source_order=["llm", "cache"], llm=settings, cache_dir=tmp_path / "c")
    assert server.calls == 2


@pytest.mark.slow
def test_four_describe_processes_write_the_same_artifact(tmp_path, api_key):
    manifest = write_manifest_of(tmp_path / "manifest.parquet", CATEGORIES)
    with VaryingChatServer(delay_s=1.0) as server:
        processes = [
            subprocess.Popen([sys.executable, "-m", "filo.cli", "describe", "--manifest", str(manifest),
                              "--out", str(tmp_path / f"out{index}.json"), "--cache-dir", str(tmp_path / "cache"),
                              "--llm-model", "test-model", "--llm-base-url", server.base_url, "--llm-max-attempts", "1"],
                             env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
            for index in range(4)
        ]
        errors = [process.communicate(timeout=600)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    assert server.calls == len(CATEGORIES)
    artifacts = [json.loads((tmp_path / f"out{index}.json").read_text()) for index in range(4)]
    assert all(artifact == artifacts[0] for artifact in artifacts)
    for entry in artifacts[0]["categories"].values():
        assert list(_cached(tmp_path / "cache", entry["cache_key"])) == entry["descriptions"]
