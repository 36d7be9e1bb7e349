"""The shared vocabulary: positions, category keys of user-typed names, prompt category names."""

from __future__ import annotations

import pytest

from filo.errors import FiloError
from filo.vocabulary import (
    MAX_CATEGORY_LENGTH,
    POSITIONS,
    category_key,
    check_category_name,
    position_index,
    prompt_category_name,
)

KNOWN = ["metal_nut", "pipe_fryum", "pcb1", "pcb2", "bottle"]


@pytest.mark.parametrize(
    "typed, key",
    [
        ("metal_nut", "metal_nut"),
        ("metal nut", "metal_nut"),
        ("Metal Nut", "metal_nut"),
        (" metal-nut ", "metal_nut"),
        ("PCB1", "pcb1"),
        ("pipe fryum", "pipe_fryum"),
    ],
)
def test_display_and_raw_names_map_to_the_known_key(typed, key):
    assert category_key(typed, KNOWN) == key


def test_unknown_names_get_their_canonical_raw_form():
    assert category_key("Ceramic  Mug", KNOWN) == "ceramic_mug"
    assert category_key("ceramic mug") == "ceramic_mug"


def test_exact_raw_name_wins_over_case_folding():
    assert category_key("Widget", ["widget", "Widget"]) == "Widget"


def test_ambiguous_names_are_an_error_listing_the_candidates():
    with pytest.raises(FiloError, match=r"\['metal nut', 'metal_nut'\]"):
        category_key("Metal-Nut", ["metal_nut", "metal nut"])


def test_empty_names_are_an_error():
    with pytest.raises(FiloError, match="empty"):
        category_key("  ", KNOWN)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("metal_nut", "metal nut"),
        ("pipe_fryum", "pipe fryum"),
        ("bottle", "bottle"),
        ("pcb1", "pcb"),
        ("pcb4", "pcb"),
        ("macaroni1", "macaroni"),
        ("macaroni2", "macaroni"),
        ("pcb5", "pcb5"),
        ("macaroni3", "macaroni3"),
        ("capsules", "capsules"),
        ("round_part", "round part"),
    ],
)
def test_prompt_category_name_maps_only_the_authors_families(raw: str, expected: str) -> None:
    assert prompt_category_name(raw) == expected


def test_position_index_follows_the_row_major_grid_and_rejects_unknown_names() -> None:
    assert [position_index(name) for name in POSITIONS] == list(range(9))
    assert position_index("bottom right") == 8
    with pytest.raises(ValueError, match="unknown position 'middle'"):
        position_index("middle")


@pytest.mark.parametrize("name", ["gear wheel", "Zahnrad-Typ 2", "pcb1", "v2.1 housing", "g" * MAX_CATEGORY_LENGTH])
def test_ordinary_names_pass_the_category_rule(name):
    assert check_category_name(f"  {name} ") == name


@pytest.mark.parametrize(("name", "reason"), [
    ("gear/wheel", "contains '/'"),
    ("..\\\\wheel", "contains"),
    ("../etc", "contains '/'"),
    (".hidden", "starts with '.'"),
    ("wheel\n", None),  # surrounding whitespace is stripped, so this one passes
    ("tab\tinside", "contains '\\t'"),
    ("g" * 300, "300 characters long; use at most 64"),
    ("", "empty"),
])
def test_path_like_control_and_overlong_names_are_refused_with_the_reason(name, reason):
    if reason is None:
        assert check_category_name(name) == name.strip()
        return
    with pytest.raises(FiloError, match="category name") as raised:
        category_key(name)
    assert reason in str(raised.value)
