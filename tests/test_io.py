"""Crash-safe writes and the shared JSON reader."""

from __future__ import annotations

import pytest

from filo.errors import FiloError
from filo.io import atomic_path, atomic_write_text, read_json_document


def test_atomic_write_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_directory_replaces_the_previous_one(tmp_path):
    target = tmp_path / "folder"
    for content in ("old", "new"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "file").write_text(content)
    assert (target / "file").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_read_json_document_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FiloError, match=r"verdict file .*absent.json does not exist; run it"):
        read_json_document(tmp_path / "absent.json", what="verdict file", hint="run it")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(FiloError, match="not readable JSON"):
        read_json_document(broken, what="metrics file", hint="run it")
    good = tmp_path / "good.json"
    good.write_text('{"a": 1}')
    assert read_json_document(good, what="x", hint="y") == {"a": 1}
