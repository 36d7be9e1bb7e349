"""The descriptions artifact: round trip, schema validation, crash safety."""

from __future__ import annotations

import json
import os

import pytest

from filo.descriptions import CategoryDescriptions, load_descriptions, write_descriptions
from filo.errors import FiloError

TABLE = {
    "pcb1": CategoryDescriptions(("oxidation on the copper traces", "missing vias"), "paper", None),
    "metal_nut": CategoryDescriptions(("cracks",), "llm:gpt-4o-mini", "ab12" * 16),
    "widget": CategoryDescriptions(("bent pin",), "user", None),
}


def test_round_trip_keeps_order_source_and_key(tmp_path):
    path = tmp_path / "descriptions.json"
    write_descriptions(path, TABLE)
    assert load_descriptions(path) == TABLE
    document = json.loads(path.read_text())
    assert document["schema_version"] == 1
    assert list(document["categories"]) == ["metal_nut", "pcb1", "widget"]
    assert document["categories"]["pcb1"] == {
        "descriptions": ["oxidation on the copper traces", "missing vias"],
        "source": "paper",
        "cache_key": None,
    }


def test_entries_are_frozen():
    with pytest.raises(AttributeError):
        TABLE["pcb1"].source = "user"


def _write_json(path, document) -> None:
    path.write_text(json.dumps(document))


def _document(**entry_overrides) -> dict:
    entry = {"descriptions": ["crack"], "source": "paper", "cache_key": None, **entry_overrides}
    return {"schema_version": 1, "categories": {"bottle": entry}}


@pytest.mark.parametrize(
    "document, message",
    [
        ({"schema_version": 2, "categories": {}}, "schema_version 2 is not supported"),
        ({"categories": {}}, "expected an object with keys schema_version, categories"),
        ({"schema_version": 1, "categories": []}, "'categories' must be an object"),
        (_document(source="gpt"), "source 'gpt' must be"),
        (_document(source="llm:"), "source 'llm:' must be"),
        (_document(descriptions=[]), "'bottle'.*list is empty"),
        (_document(descriptions=["ok", 3]), "description 3 is not a non-empty string"),
        (_document(descriptions="crack"), "'descriptions' must be a list"),
        (_document(cache_key="XYZ"), "cache_key 'XYZ'"),
        ({"schema_version": 1, "categories": {"bottle": {"descriptions": ["crack"]}}}, "exactly the keys"),
    ],
)
def test_invalid_artifacts_are_rejected_naming_file_and_problem(tmp_path, document, message):
    path = tmp_path / "descriptions.json"
    _write_json(path, document)
    with pytest.raises(FiloError, match=message) as raised:
        load_descriptions(path)
    assert str(path) in str(raised.value)


def test_missing_and_non_json_files_are_clear_errors(tmp_path):
    with pytest.raises(FiloError, match="does not exist.*filo describe"):
        load_descriptions(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, "categ')
    with pytest.raises(FiloError, match="not readable JSON.*filo describe"):
        load_descriptions(broken)


def test_invalid_table_is_not_written(tmp_path):
    path = tmp_path / "descriptions.json"
    with pytest.raises(FiloError, match="'bad'.*source 'paperish'"):
        write_descriptions(path, {"bad": CategoryDescriptions(("crack",), "paperish")})
    assert not path.exists()


def test_crash_during_write_keeps_the_previous_artifact_and_leaves_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "descriptions.json"
    write_descriptions(path, TABLE)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_descriptions(path, {"widget": CategoryDescriptions(("other",), "user")})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["descriptions.json"]
