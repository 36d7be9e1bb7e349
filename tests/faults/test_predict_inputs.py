"""`filo predict` with a missing path: an error line for it, the rest scored, exit code 1."""

from __future__ import annotations

import json

from filo.cli import main

from .builders import CATEGORY


def test_a_missing_path_is_a_per_image_error_and_the_rest_is_scored(tiny_project, tmp_path, capsys):
    good = next((tiny_project.data / CATEGORY / "test" / "good").glob("*.png"))
    missing = tmp_path / "missing.png"
    code = main(["predict", str(good), str(missing), "--category", CATEGORY, "--model", str(tiny_project.model),
                 "--descriptions", str(tiny_project.descriptions), "--out-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    assert [line["image_path"] for line in lines] == [str(good), str(missing)]
    assert lines[0]["error"] is None and isinstance(lines[0]["score"], float)
    assert lines[1]["score"] is None and lines[1]["error"] == f"image file not found: {missing}"
    assert "1 image(s) could not be read" in captured.err
