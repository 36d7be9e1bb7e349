"""`filo export` + its runtimes (onnxruntime, OpenVINO): the same outputs as torch eager; a damaged export is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
import torch

from filo.cli import main
from filo.errors import FiloError
from filo.export import OnnxFiLo, read_export
from filo.export.artifact import MANIFEST_FILE
from filo.io import sha256_file
from filo.model.checkpoint import load_checkpoint

from .conftest import CATEGORY, THRESHOLD

pytestmark = pytest.mark.slow  # exports the tiny model once (about half a minute on 2 cores)

EXPORT_RUNTIMES = [
    "onnx",
    pytest.param("openvino", marks=pytest.mark.skipif(
        find_spec("openvino") is None, reason="openvino is not installed (pip install 'filo[openvino]')")),
]


@pytest.mark.parametrize("name", EXPORT_RUNTIMES)
def test_maps_scores_and_descriptions_equal_torch_eager(checkpoint, exported, name):
    """Batch of 4 with a detected position, none (all positions averaged) and partial boxes: eager vs the export."""
    runtime = OnnxFiLo.load(exported, runtime=name)
    model = load_checkpoint(checkpoint).eval()
    model.prepare(CATEGORY, runtime.exported.descriptions.descriptions)
    size = model.config.image_size
    images = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(3))
    positions = ["center", None, "top left", None]
    keep = torch.ones(4, size, size, dtype=torch.bool)
    keep[0, : size // 2] = False
    keep[3] = False

    with torch.no_grad():
        eager = model.predict(images, CATEGORY, positions=positions, keep_masks=keep)
    onnx = runtime.predict(images, CATEGORY, positions=positions, keep_masks=keep)

    assert eager.anomaly_map.std() > 1e-3  # the comparison is not between constant maps
    assert (onnx.anomaly_map - eager.anomaly_map).abs().max() <= 1e-4
    assert (onnx.score - eager.score).abs().max() <= 1e-5
    for got, expected in zip(onnx.top_descriptions, eager.top_descriptions):
        assert [text for text, _ in got] == [text for text, _ in expected]
        assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-5, rtol=0)


def test_the_manifest_carries_category_descriptions_threshold_and_source(checkpoint, exported):
    export = read_export(exported)
    manifest = export.manifest
    assert export.category == CATEGORY
    assert export.threshold == THRESHOLD and export.calibration.rule == "manual"
    assert len(export.descriptions.descriptions) > 0
    assert manifest["n_states"] == len(export.descriptions.descriptions) + 5
    assert manifest["source"]["model"] == str(checkpoint)
    assert manifest["source"]["checkpoint_sha256"] == sha256_file(checkpoint)
    assert manifest["source"]["train_dataset"] == "synth_mvtec"
    assert set(manifest["files"]) >= {"model.onnx"}
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]  # no temporaries left


@pytest.mark.parametrize("name", EXPORT_RUNTIMES)
def test_predict_with_an_export_runtime_gives_the_torch_results(checkpoint, exported, images, tmp_path, capsys, name):
    """`filo predict --runtime onnx|openvino` on the export vs `filo predict` on the checkpoint: same JSON, maps."""
    results = {}
    for runtime, model in (("torch", checkpoint), (name, exported)):
        out = tmp_path / runtime
        code = main(["predict", *map(str, images), "--category", CATEGORY, "--model", str(model),
                     "--threshold", str(THRESHOLD), "--runtime", runtime, "--out-dir", str(out),
                     "--save-maps", "npy", "--batch-size", "2"])
        assert code == 0
        results[runtime] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for eager, onnx in zip(results["torch"], results[name], strict=True):
        assert abs(eager["score"] - onnx["score"]) <= 1e-5
        assert eager["verdict"] == onnx["verdict"] and onnx["threshold"] == THRESHOLD
        assert [d["description"] for d in eager["top_descriptions"]] == \
            [d["description"] for d in onnx["top_descriptions"]]
        eager_map, onnx_map = np.load(eager["raw_map_path"]), np.load(onnx["raw_map_path"])
        assert np.nanmax(np.abs(eager_map - onnx_map)) <= 1e-4


def test_a_damaged_graph_file_is_refused(exported, tmp_path):
    copy = shutil.copytree(exported, tmp_path / "damaged")
    weights = max(copy.iterdir(), key=lambda p: p.stat().st_size)  # the largest graph file
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(FiloError, match=f"{weights.name} does not match its manifest"):
        read_export(copy)


def test_an_edited_manifest_is_refused(exported, tmp_path, images, capsys):
    copy = shutil.copytree(exported, tmp_path / "edited")
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["threshold"] = 0.01
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    code = main(["predict", str(images[0]), "--category", CATEGORY, "--model", str(copy), "--runtime", "onnx",
                 "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert "was changed after export" in capsys.readouterr().err


def test_a_graph_from_another_export_is_refused(exported, checkpoint, tmp_path):
    """Mismatched files: another category's graph beside this manifest."""
    other = tmp_path / "other"
    main(["export", "--model", str(checkpoint), "--category", "round_part", "--out", str(other)])
    mixed = shutil.copytree(exported, tmp_path / "mixed")
    for name in read_export(other).manifest["files"]:
        shutil.copy(other / name, mixed / name)
    with pytest.raises(FiloError, match="does not match its manifest"):
        read_export(mixed)


def test_the_export_predicts_its_category_only(exported, images, tmp_path, capsys):
    code = main(["predict", str(images[0]), "--category", "round_part", "--model", str(exported),
                 "--runtime", "onnx", "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert f"predicts category {CATEGORY!r} only" in capsys.readouterr().err


def test_the_torch_runtime_points_an_export_to_the_onnx_runtime(exported, images, tmp_path, capsys):
    code = main(["predict", str(images[0]), "--category", CATEGORY, "--model", str(exported),
                 "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert "--runtime onnx" in capsys.readouterr().err


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed (pip install 'filo[openvino]')")
def test_the_openvino_runtime_leaves_openvino_telemetry_unloaded(exported, tmp_path):
    """Importing openvino alone sends a usage event and writes ~/intel/; the runtime loads it without its telemetry."""
    script = ("import sys; from filo.export import OnnxFiLo; OnnxFiLo.load(sys.argv[1], runtime='openvino'); "
              "print(sys.modules['openvino_telemetry'])")
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, str(exported)], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "None"
    assert not (tmp_path / "intel").exists()


def test_openvino_missing_is_said_when_the_export_is_opened(exported, monkeypatch):
    from filo.export import runtime

    monkeypatch.setattr(runtime, "find_spec", lambda name: None)
    with pytest.raises(FiloError, match=r"pip install 'filo\[openvino\]'"):
        runtime.export_predictor(exported, runtime="openvino")


def test_every_export_runtime_has_a_session_backend():
    from filo.export.runtime import SESSIONS
    from filo.export.runtimes import EXPORT_RUNTIMES

    assert tuple(SESSIONS) == EXPORT_RUNTIMES
