"""Mapping user-typed category names to artifact keys."""

from __future__ import annotations

import pytest

from filo.descriptions import category_key
from filo.errors import FiloError

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
