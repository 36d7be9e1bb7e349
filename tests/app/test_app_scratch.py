"""The app's scratch folder stays within app.scratch_mb: old predictions' uploads and overlays are deleted, the
newest ones (and any the page may still be fetching) keep serving."""

from __future__ import annotations

import dataclasses

from prediction.builders import VISA_CATEGORY

from filo.app import scratch
from filo.app.scratch import folder_bytes

CHAMPION = "models:/filo@champion"


def client_of(demo, monkeypatch, **changes):
    from fastapi.testclient import TestClient

    from filo.app.server import create_app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    return TestClient(create_app(dataclasses.replace(demo.settings, **changes)))


def upload(client, image):
    answer = client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY, "name": image.name},
                         content=image.read_bytes())
    assert answer.status_code == 200, answer.text
    return answer.json()


def served(client, result) -> bool:
    return all(client.get(result[key]).status_code == 200 for key in ("photo_url", "overlay_url"))


def test_after_many_predictions_the_scratch_folder_stays_within_its_budget(demo, monkeypatch):
    """Budget of three predictions' files, no grace: 12 uploads leave the newest three, which still serve."""
    monkeypatch.setattr(scratch, "GRACE_S", 0.0)
    image = demo.images[-1]
    with client_of(demo, monkeypatch) as probe:
        upload(probe, image)
        one = folder_bytes(probe.app.state.workspace.scratch_results.root)  # one upload + its overlay
    kept = 3
    with client_of(demo, monkeypatch, scratch_mb=kept * one / 1e6) as client:
        workspace = client.app.state.workspace
        results = [upload(client, image) for _ in range(12)]
        folder = workspace.scratch_results.root
        assert len(list(folder.iterdir())) == kept
        assert folder_bytes(folder) <= kept * one
        assert all(served(client, result) for result in results[-kept:])
        gone = client.get(results[0]["overlay_url"])
        assert gone.status_code == 400 and "app.scratch_mb" in gone.text
        folder_page = client.get("/api/folder", params={"model": CHAMPION, "category": VISA_CATEGORY,
                                                        "folder": str(image.parent)})
        assert folder_page.status_code == 200  # a folder prediction's overlays count too
        assert len(list(folder.iterdir())) <= kept and served(client, folder_page.json()["results"][0])


def test_files_the_page_may_still_fetch_are_kept_over_the_budget(demo, monkeypatch):
    """Within the grace period nothing is deleted, however small the budget."""
    with client_of(demo, monkeypatch, scratch_mb=1e-6) as client:
        results = [upload(client, demo.images[-1]) for _ in range(3)]
        assert all(served(client, result) for result in results)


def test_a_prediction_that_fails_leaves_no_files(demo, monkeypatch):
    with client_of(demo, monkeypatch) as client:
        workspace = client.app.state.workspace
        upload(client, demo.images[0])
        workspace.stopping.set()  # the next forward fails after its upload was written
        answer = client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY, "name": "x.png"},
                             content=demo.images[1].read_bytes())
        assert answer.status_code == 400 and "stopping" in answer.json()["error"]
        assert len(list(workspace.scratch_results.root.iterdir())) == 1
