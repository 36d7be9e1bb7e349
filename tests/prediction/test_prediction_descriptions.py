"""Which descriptions a predicted category uses, and the help given when there are none."""

import pytest

from filo.descriptions.defaults import load_shipped_defaults
from filo.errors import FiloError
from filo.prediction import DescriptionLookup

from .builders import DESCRIPTIONS, VISA_CATEGORY, write_descriptions_artifact


def test_the_given_artifact_wins_over_the_shipped_defaults(tmp_path):
    path = write_descriptions_artifact(tmp_path / "d.json", [VISA_CATEGORY])
    lookup = DescriptionLookup.from_file(path)
    assert lookup.find(VISA_CATEGORY).descriptions == DESCRIPTIONS


def test_a_category_not_in_any_artifact_falls_back_to_the_shipped_defaults():
    lookup = DescriptionLookup()
    assert lookup.find(VISA_CATEGORY) == load_shipped_defaults()[VISA_CATEGORY]


def test_a_yaml_user_file_describes_a_new_category(tmp_path):
    user_file = tmp_path / "mine.yaml"
    user_file.write_text("categories:\n  Brake Disc:\n    - rust spot\n    - deep groove\n")
    lookup = DescriptionLookup.from_file(user_file)
    key = lookup.category_key("brake disc")
    assert key == "brake_disc"
    assert lookup.find(key).descriptions == ("rust spot", "deep groove")


def test_display_names_map_to_known_raw_keys(tmp_path):
    lookup = DescriptionLookup.from_file(write_descriptions_artifact(tmp_path / "d.json", ["pcb1"]))
    assert lookup.category_key("PCB1") == "pcb1"
    assert lookup.category_key("Wood Grain") == VISA_CATEGORY


def test_an_undescribed_category_explains_how_to_add_descriptions():
    with pytest.raises(FiloError) as raised:
        DescriptionLookup().find("brake_disc")
    message = str(raised.value)
    assert "'brake_disc'" in message
    assert "--descriptions FILE.yaml" in message and "filo describe" in message
