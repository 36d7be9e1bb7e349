"""The shipped default descriptions (paper and demo) and user description files."""

from __future__ import annotations

import pytest

from filo.descriptions.defaults import load_shipped_defaults, load_user_descriptions
from filo.errors import FiloError

MVTEC = [
    "bottle",
    "cable",
    "capsule",
    "carpet",
    "grid",
    "hazelnut",
    "leather",
    "metal_nut",
    "pill",
    "screw",
    "tile",
    "toothbrush",
    "transistor",
    "wood",
    "zipper",
]
VISA = [
    "candle",
    "capsules",
    "cashew",
    "chewinggum",
    "fryum",
    "macaroni1",
    "macaroni2",
    "pcb1",
    "pcb2",
    "pcb3",
    "pcb4",
    "pipe_fryum",
]
DEMO = [
    "woven_fabric",
    "speckle_stone",
    "round_part",
    "wood_grain",
    "grid_mesh",
    "trace_board",
    "capsule_blob",
]
DEMO_DEFECTS = ["scratch", "crack", "hole", "stain", "missing", "contamination"]
# Number of descriptions per category in the authors' released lists.
PAPER_COUNTS = {
    "bottle": 10,
    "cable": 8,
    "capsule": 7,
    "carpet": 4,
    "grid": 10,
    "hazelnut": 9,
    "leather": 10,
    "metal_nut": 8,
    "pill": 7,
    "screw": 8,
    "tile": 10,
    "toothbrush": 6,
    "transistor": 7,
    "wood": 9,
    "zipper": 8,
    "candle": 8,
    "capsules": 7,
    "cashew": 7,
    "chewinggum": 5,
    "fryum": 8,
    "macaroni1": 7,
    "macaroni2": 7,
    "pcb1": 8,
    "pcb2": 8,
    "pcb3": 8,
    "pcb4": 8,
    "pipe_fryum": 8,
}


@pytest.fixture(scope="module")
def shipped():
    return load_shipped_defaults()


def test_every_paper_and_demo_category_is_shipped(shipped):
    assert sorted(shipped) == sorted(MVTEC + VISA + DEMO)
    assert {name: len(shipped[name].descriptions) for name in MVTEC + VISA} == PAPER_COUNTS
    assert {shipped[name].source for name in MVTEC + VISA} == {"paper"}
    assert {shipped[name].source for name in DEMO} == {"user"}
    assert all(shipped[name].cache_key is None for name in shipped)


def test_paper_lists_are_the_authors_items_in_their_order(shipped):
    assert shipped["bottle"].descriptions == (
        "cracked large",
        "cracked small",
        "dented large",
        "dented small",
        "leaking",
        "discolored",
        "deformed",
        "missing cap",
        "excessive condensation",
        "unusual odor",
    )
    assert shipped["carpet"].descriptions == (
        "discoloration in a specific area",
        "irregular patch or section with a different texture",
        "frayed edges or unraveling fibers",
        "burn mark or scorching",
    )
    assert shipped["macaroni1"].descriptions[0] == "uneven shape"
    assert shipped["hazelnut"].descriptions[1] == "unusual discoloration"
    assert shipped["pill"].descriptions[3] == "uneven coating"
    assert shipped["candle"].descriptions[5] == "other"
    assert len({shipped[f"pcb{index}"] for index in range(1, 5)}) == 1


def test_shipped_descriptions_are_clean_phrases(shipped):
    for name, entry in shipped.items():
        for description in entry.descriptions:
            assert description == description.strip().lower(), (name, description)
            assert "." not in description and "," not in description, (name, description)


def test_demo_categories_cover_every_synthetic_defect_type(shipped):
    for name in DEMO:
        text = " ".join(shipped[name].descriptions)
        assert all(defect in text for defect in DEMO_DEFECTS), name


def test_user_file_entries_have_source_user(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("categories:\n  metal nut:\n    - ' bent thread '\n    - burr\n")
    assert load_user_descriptions(path)["metal nut"].descriptions == ("bent thread", "burr")
    assert load_user_descriptions(path)["metal nut"].source == "user"


@pytest.mark.parametrize(
    "text, message",
    [
        ("categories: [a, b]", "'categories' mapping"),
        ("source: paper\ncategories: {a: [x]}", "source 'paper' is not allowed"),
        ("categories: {a: x}", "'a': expected a list"),
        ("categories: {a: []}", "'a': the description list is empty"),
        ("categories: {a: [x, x]}", "duplicate"),
        ("categories: {a: [x]}\nextra: 1", r"unknown top-level keys \['extra'\]"),
        ("categories: {a: [x]", "not valid YAML"),
    ],
)
def test_malformed_user_files_are_rejected_naming_the_file(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(FiloError, match=message) as raised:
        load_user_descriptions(path)
    assert str(path) in str(raised.value)


def test_missing_user_file_is_a_clear_error(tmp_path):
    with pytest.raises(FiloError, match="does not exist"):
        load_user_descriptions(tmp_path / "absent.yaml")
