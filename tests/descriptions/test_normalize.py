"""Parsing and normalizing LLM replies."""

from __future__ import annotations

import pytest

from filo.descriptions.normalize import InvalidReply, normalize_descriptions, normalize_item, parse_reply


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["a", "b"]', ["a", "b"]),
        ('{"descriptions": ["a"]}', ["a"]),
        ('```json\n["a"]\n```', ["a"]),
        ('```\n{"descriptions": ["a"]}\n```', ["a"]),
    ],
)
def test_parse_reply_accepts_lists_objects_and_fences(text, expected):
    assert parse_reply(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("cracks, dents", "not valid JSON"),
        ('{"defects": ["a"]}', "neither a JSON list"),
        ('"just a string"', "neither a JSON list"),
        ("   ", "empty"),
    ],
)
def test_parse_reply_rejects_other_shapes(text, reason):
    with pytest.raises(InvalidReply, match=reason):
        parse_reply(text)


@pytest.mark.parametrize(
    "item, expected",
    [
        ("1. Cracked rim", "cracked rim"),
        ("(2) dent", "dent"),
        ("b) bent pin", "bent pin"),
        ("- Scratch.", "scratch"),
        ('• "Burn mark"', "burn mark"),
        ("  missing   cap  ", "missing cap"),
        ("Oxidation on PCB traces", "oxidation on PCB traces"),
        ("pH stain", "pH stain"),
    ],
)
def test_normalize_item_strips_markers_and_lowercases_where_safe(item, expected):
    assert normalize_item(item) == expected


# An inner period would split the phrase inside a Grounding DINO caption (" . "-separated).
@pytest.mark.parametrize(
    "item", ["", "  ", "...", 7, None, ["nested"], "x" * 65, "crack. Also a dent", "1.5 mm crack"]
)
def test_unusable_items_are_dropped(item):
    assert normalize_item(item, max_chars=64) is None


def test_normalize_descriptions_dedupes_case_insensitively_in_order_and_caps():
    items = ["Crack", "dent", "crack", "DENT", "hole", "stain", "x" * 100]
    assert normalize_descriptions(items, max_items=3) == ("crack", "dent", "hole")


def test_normalize_descriptions_dedupes_acronyms_case_insensitively_too():
    assert normalize_descriptions(["PCB burn", "pcb burn"], max_items=5) == ("PCB burn",)


@pytest.mark.parametrize("items", [[], ["", 3, "..."]])
def test_normalize_descriptions_rejects_replies_with_nothing_usable(items):
    with pytest.raises(InvalidReply, match=f"none of the {len(items)} items"):
        normalize_descriptions(items, max_items=5)
