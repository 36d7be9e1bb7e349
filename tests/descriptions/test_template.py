"""Versioned prompt templates and the shipped example user file."""

from __future__ import annotations

from pathlib import Path

import pytest

from filo.descriptions.defaults import load_user_descriptions
from filo.descriptions.template import available_template_versions, load_template
from filo.errors import FiloError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_v1_template_renders_category_and_count_and_asks_for_json():
    template = load_template("v1")
    assert "v1" in available_template_versions()
    assert len(template.sha256) == 64
    system, user = template.messages("metal nut", 7)
    assert system["role"] == "system" and user["role"] == "user"
    assert '"metal nut"' in user["content"] and "up to 7 " in user["content"]
    assert '{"descriptions": [' in user["content"]
    assert "$" not in system["content"] + user["content"]


def test_unknown_template_version_lists_the_available_ones():
    with pytest.raises(FiloError, match=r"'v99' does not exist; available: \['v1'"):
        load_template("v99")


def test_example_user_file_is_valid():
    table = load_user_descriptions(REPO_ROOT / "prompts" / "user_descriptions.example.yaml")
    assert table["metal nut"].descriptions[0] == "bent thread"
    assert {entry.source for entry in table.values()} == {"user"}
