"""Which descriptions a predicted category uses: artifacts, a user file, the shipped lists, else the generic states."""

import pytest

from filo.descriptions.defaults import load_generic_descriptions, load_shipped_defaults
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


def test_an_undescribed_category_gets_the_generic_states_offline():
    found = DescriptionLookup().find("brake_disc")
    assert found.source == "generic"
    assert found == load_generic_descriptions()


def test_a_user_file_describes_a_new_category_before_the_generic_states(tmp_path):
    user_file = tmp_path / "mine.yaml"
    user_file.write_text("categories:\n  Brake Disc: [warped rim, rust spot]\n")
    lookup = DescriptionLookup.from_file(user_file)
    found = lookup.find(lookup.category_key("brake disc"))
    assert (found.source, found.descriptions) == ("user", ("warped rim", "rust spot"))


@pytest.mark.parametrize("name", ["../../etc/passwd", "gear/wheel", "gear\\wheel", "g" * 300, "   ", ".hidden"])
def test_a_category_name_that_is_a_path_or_too_long_is_refused(name):
    with pytest.raises(FiloError, match="category name"):
        DescriptionLookup().category_key(name)
