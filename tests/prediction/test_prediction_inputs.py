"""Which files `filo predict` reads from the paths it is given."""

import pytest

from filo.errors import FiloError
from filo.prediction import collect_images


def test_folders_are_searched_recursively_for_image_suffixes_in_sorted_order(tmp_path):
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    for name in ("a/2.PNG", "a/1.jpg", "a/deeper/0.bmp", "a/notes.txt", "a/.hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    single = tmp_path / "given.weird"
    single.write_bytes(b"x")
    found = collect_images([tmp_path / "a", single])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/1.jpg", "a/2.PNG", "a/deeper/0.bmp", "given.weird"
    ]


def test_a_missing_path_is_kept_for_a_per_image_error(tmp_path):
    (tmp_path / "good.png").write_bytes(b"x")
    assert collect_images([tmp_path / "good.png", tmp_path / "nope.png"]) == [
        tmp_path / "good.png", tmp_path / "nope.png"
    ]


def test_a_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FiloError, match="contains no images"):
        collect_images([tmp_path])
