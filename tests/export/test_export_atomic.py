"""A failed export leaves nothing half-written, and a previous export stays intact."""

from __future__ import annotations

import pytest

from filo.cli import main
from filo.export import artifact

from .conftest import CATEGORY


def test_a_crash_during_export_leaves_no_folder_and_keeps_the_previous_one(checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "exports" / "wood"
    out.mkdir(parents=True)
    (out / "previous.txt").write_text("old export")

    def crash(graph, path):
        path.write_bytes(b"partial")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(artifact, "_export_onnx", crash)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        main(["export", "--model", str(checkpoint), "--category", CATEGORY, "--out", str(out)])
    assert sorted(p.name for p in out.parent.iterdir()) == ["wood"]
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]


def test_onnx_runtime_needs_an_export_folder(checkpoint, images, tmp_path, capsys):
    code = main(["predict", str(images[0]), "--category", CATEGORY, "--model", str(checkpoint),
                 "--runtime", "onnx", "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert "needs --model to be an export folder" in capsys.readouterr().err
