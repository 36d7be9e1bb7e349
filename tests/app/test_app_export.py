"""`filo app --runtime onnx|openvino`: an export folder under app.roots, or a registered version carrying an export,
served with the scores `filo predict --runtime onnx|openvino` gives; one export, one category."""

from __future__ import annotations

import dataclasses
import json
import shutil
from importlib.util import find_spec

import pytest
from prediction.builders import VISA_CATEGORY

from filo.app.demo import tracking_store
from filo.cli import main

pytestmark = pytest.mark.slow  # exports the demo's tiny champion once (about half a minute on 2 cores)


@pytest.fixture(scope="session")
def demo_export(demo):
    """`filo export` of the demo's champion for its category, into the demo's data folder (under app.roots)."""
    out = demo.root / "data" / "exports" / VISA_CATEGORY
    with tracking_store(demo.tracking_uri):
        assert main(["export", "--model", "models:/filo@champion", "--category", VISA_CATEGORY,
                     "--out", str(out)]) == 0
    return out


def onnx_client(demo, monkeypatch, runtime="onnx", **changes):
    from fastapi.testclient import TestClient

    from filo.app.server import create_app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    return TestClient(create_app(dataclasses.replace(demo.settings, **{"runtime": runtime, **changes})))


def upload(client, model, image, category=VISA_CATEGORY):
    return client.post("/api/predict", params={"model": model, "category": category, "name": image.name},
                       content=image.read_bytes())


def predict_onnx(export, image, tmp_path, capsys, runtime="onnx") -> dict:
    """What `filo predict --runtime onnx` (or `runtime`) prints for `image` with `export`."""
    assert main(["predict", str(image), "--category", VISA_CATEGORY, "--model", str(export), "--runtime", runtime,
                 "--out-dir", str(tmp_path / "cli")]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def test_an_export_under_app_roots_serves_what_filo_predict_runtime_onnx_gives(demo, demo_export, monkeypatch,
                                                                            tmp_path, capsys):
    image = demo.images[-1]
    expected = predict_onnx(demo_export, image, tmp_path, capsys)
    with onnx_client(demo, monkeypatch) as client:
        page = client.get("/predict", params={"model": str(demo_export)})
        assert page.status_code == 200 and VISA_CATEGORY in page.text and "metal_nut" not in page.text
        answer = upload(client, str(demo_export), image)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert abs(result["score"] - expected["score"]) <= 1e-5
        assert (result["verdict"], result["threshold"]) == (expected["verdict"], expected["threshold"])
        assert [d["description"] for d in result["top_descriptions"]] == \
            [d["description"] for d in expected["top_descriptions"]]
        assert client.get(result["overlay_url"]).status_code == 200

        other = upload(client, str(demo_export), image, category="metal nut")
        assert other.status_code == 400
        assert f"exported for category {VISA_CATEGORY!r} only, not 'metal_nut'" in other.json()["error"]
        folder = client.get("/api/folder", params={"model": str(demo_export), "category": VISA_CATEGORY,
                                                   "folder": str(image.parent)})
        assert folder.status_code == 200 and folder.json()["results"]


@pytest.mark.skipif(find_spec("openvino") is None, reason="openvino is not installed (pip install 'filo[openvino]')")
def test_the_app_on_openvino_serves_what_filo_predict_runtime_openvino_gives(demo, demo_export, monkeypatch,
                                                                             tmp_path, capsys):
    image = demo.images[-1]
    expected = predict_onnx(demo_export, image, tmp_path, capsys, runtime="openvino")
    with onnx_client(demo, monkeypatch, runtime="openvino") as client:
        answer = upload(client, str(demo_export), image)
        assert answer.status_code == 200, answer.text
        assert abs(answer.json()["score"] - expected["score"]) <= 1e-5
        assert answer.json()["verdict"] == expected["verdict"]


def test_an_export_outside_app_roots_is_refused(demo, demo_export, monkeypatch, tmp_path):
    outside = shutil.copytree(demo_export, tmp_path / "export")
    with onnx_client(demo, monkeypatch) as client:
        answer = upload(client, str(outside), demo.images[0])
    assert answer.status_code == 403 and "outside app.roots" in answer.json()["error"]


def test_the_runtimes_refuse_what_the_other_one_runs(demo, demo_export, monkeypatch):
    """torch + an export folder, onnx + a checkpoint or a version without exports: 400 saying what to do."""
    with onnx_client(demo, monkeypatch, runtime="torch") as client:
        answer = upload(client, str(demo_export), demo.images[0])
        assert answer.status_code == 400 and "--runtime onnx" in answer.json()["error"]
    with onnx_client(demo, monkeypatch, roots=(str(demo.root),)) as client:
        checkpoint = upload(client, str(demo.root / "model.pt"), demo.images[0])
        assert checkpoint.status_code == 400 and "needs an export folder" in checkpoint.json()["error"]
        plain = upload(client, "models:/filo@champion", demo.images[0])
        assert plain.status_code == 400 and "carries no exported model" in plain.json()["error"]


def test_a_registered_version_carrying_the_export_is_served_with_it(demo, demo_export, monkeypatch, tmp_path,
                                                                   capsys):
    """`filo register --export`, in a store of its own: the app runs the version's export for its category."""
    from filo.registry.bundle import DirectionFiles
    from filo.registry.registration import register_bundle
    from filo.registry.settings import RegisterSettings

    direction = demo.root / "results" / "mvtec_to_visa"
    store = f"sqlite:///{tmp_path}/mlflow.db"
    with tracking_store(store):
        register_bundle([DirectionFiles(demo.root / "model.pt", direction / "metrics.json",
                                        direction / "verdict.json", demo.root / "descriptions.json")],
                        RegisterSettings(dvc_lock=demo.root / "none.lock"), repo=demo.root, exports=[demo_export])
    image = demo.images[-1]
    expected = predict_onnx(demo_export, image, tmp_path, capsys)
    with onnx_client(demo, monkeypatch) as client:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
        answer = upload(client, "models:/filo/1", image)
        assert answer.status_code == 200, answer.text
        assert abs(answer.json()["score"] - expected["score"]) <= 1e-5
        other = upload(client, "models:/filo/1", image, category="metal nut")
        assert other.status_code == 400 and f"{VISA_CATEGORY!r} only" in other.json()["error"]
