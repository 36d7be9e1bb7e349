"""The app's views and API against a tiny evaluated and registered demo (no browser: FastAPI's TestClient)."""

from __future__ import annotations

import io
import json
import math

import pytest
from PIL import Image
from prediction.builders import VISA_CATEGORY

from filo.app.service import Workspace
from filo.app.settings import AppSettings
from filo.errors import FiloError

CHAMPION = "models:/filo@champion"


def cli_prediction(demo, image, tmp_path, capsys):
    """What `filo predict` prints for `image` with the champion."""
    from filo.cli import main

    assert main(["predict", str(image), "--category", VISA_CATEGORY, "--out-dir", str(tmp_path / "cli")]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def test_an_uploaded_image_gets_what_filo_predict_gives_with_a_full_size_overlay(app_client, demo, tmp_path, capsys):
    page = app_client.get("/predict")
    assert page.status_code == 200 and VISA_CATEGORY in page.text and "models:/filo/1" in page.text
    image = demo.images[-1]
    answer = app_client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY,
                                                     "name": image.name}, content=image.read_bytes())
    assert answer.status_code == 200, answer.text
    result = answer.json()
    expected = cli_prediction(demo, image, tmp_path, capsys)
    assert result["score"] == pytest.approx(expected["score"], abs=1e-6)
    assert (result["verdict"], result["threshold"], result["calibration"]) == (
        expected["verdict"], expected["threshold"], expected["calibration"])
    assert result["calibration"]["rule"] == "fpr"
    overlay = app_client.get(result["overlay_url"])
    with Image.open(io.BytesIO(overlay.content)) as png, Image.open(image) as photo:
        assert png.size == photo.size


def test_bad_uploads_are_explained_and_the_server_keeps_answering(app_client, demo):
    def post(data, category=VISA_CATEGORY, name="x.png"):
        return app_client.post("/api/predict", params={"model": CHAMPION, "category": category, "name": name},
                               content=data)

    not_image = post(b"%PDF-1.4 not an image", name="report.pdf")
    assert not_image.status_code == 400 and "report.pdf is not an image" in not_image.json()["error"]
    path_like = post(demo.images[0].read_bytes(), category="../dinosaur")
    assert path_like.status_code == 400 and "category name '../dinosaur' contains" in path_like.json()["error"]
    too_long = post(demo.images[0].read_bytes(), category="d" * 300)
    assert too_long.status_code == 400 and "300 characters long" in too_long.json()["error"]
    new = post(demo.images[0].read_bytes(), category="Gear Wheel")  # a category no shipped list has
    assert new.status_code == 200
    assert (new.json()["category"], new.json()["descriptions_source"]) == ("gear_wheel", "generic")
    huge = post(b"0" * int(demo.settings.max_upload_mb * 1e6 + 1))
    assert huge.status_code == 400 and "upload limit" in huge.json()["error"]
    assert post(demo.images[0].read_bytes()).status_code == 200


def test_an_image_over_the_pixel_limit_is_refused(demo):
    workspace = Workspace(AppSettings(max_pixels=100))
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, format="PNG")
    with pytest.raises(FiloError, match="20x20 pixels, over the limit of 100"):
        workspace.check_upload("big.png", buffer.getvalue())
    workspace.close()


def test_a_folder_is_predicted_page_by_page(app_client, demo):
    folder = demo.root / "data" / "datasets" / "visa" / VISA_CATEGORY / "Data" / "Images"
    images = sorted(folder.rglob("*.png"))
    first = app_client.get("/api/folder", params={"model": CHAMPION, "category": VISA_CATEGORY,
                                                  "folder": str(folder), "page": 1}).json()
    assert first["total"] == len(images) > 4 and first["pages"] == math.ceil(len(images) / 4)
    assert len(first["results"]) == 4
    last = app_client.get("/api/folder", params={"model": CHAMPION, "category": VISA_CATEGORY,
                                                 "folder": str(folder), "page": first["pages"]}).json()
    names = [r["name"] for r in first["results"] + last["results"]]
    assert len(set(names)) == len(names)
    missing = app_client.get("/api/folder", params={"model": CHAMPION, "category": VISA_CATEGORY,
                                                    "folder": str(folder / "nope")})
    assert missing.status_code == 400 and "is not a folder" in missing.json()["error"]


def test_the_results_view_shows_each_anomalous_images_ground_truth_mask(app_client, demo):
    """The manifest is found through the profile's registry (key "visa", dataset name "synth_visa")."""
    import pandas as pd

    scores = pd.read_parquet(demo.root / "results" / "mvtec_to_visa" / "scores.parquet").sort_values("image_id")
    first_page = scores.head(demo.settings.page_size)
    assert first_page["label"].sum() >= 1  # VisA's Anomaly/ images sort before Normal/ ones
    page = app_client.get("/results/mvtec_to_visa", params={"sort": "image_id", "order": "asc"}).text
    assert page.count('alt="ground truth"') == int(first_page["label"].sum())
    assert page.count("no defect mask") == int((first_page["label"] == 0).sum())


def test_the_results_view_shows_metrics_histograms_and_filters_false_positives(app_client, demo):
    verdict = json.loads((demo.root / "results" / "mvtec_to_visa" / "verdict.json").read_text())
    assert app_client.get("/results").text.count("/results/mvtec_to_visa") == 1
    page = app_client.get("/results/mvtec_to_visa", params={"filter": "fp"})
    assert page.status_code == 200
    assert "image_auroc" in page.text and "<svg" in page.text and "stroke-dasharray" in page.text
    assert f"Images ({verdict['confusion']['fp']} fp)" in page.text
    assert page.text.count('class="image-row"') == min(verdict["confusion"]["fp"], 4)
    everything = app_client.get("/results/mvtec_to_visa", params={"order": "asc"}).text
    scores = [float(cell.split("<")[0]) for cell in everything.split('class="score">')[1:]]
    assert scores == sorted(scores)
    import pandas as pd

    image_id = pd.read_parquet(demo.root / "results" / "mvtec_to_visa" / "scores.parquet")["image_id"].iloc[-1]
    row = app_client.get("/api/result-overlay", params={"direction": "mvtec_to_visa", "image_id": image_id})
    assert row.status_code == 200 and row.json()["overlay_url"].startswith("/files/")
    assert app_client.get("/results/elsewhere").status_code == 400


def test_the_models_view_lists_versions_aliases_gate_and_calibration(app_client):
    page = app_client.get("/models").text
    assert "champion" in page and "gate" in page
    assert "mvtec_to_synth_visa.rule: fpr" in page and "n_good" in page


def test_the_cli_passes_every_flag_to_the_app_settings(monkeypatch):
    from filo.app import server
    from filo.cli import main

    served = []
    monkeypatch.setattr(server, "serve", served.append)
    assert main(["app", "--host", "0.0.0.0", "--port", "9000", "--results-dir", "elsewhere", "--page-size", "5"]) == 0
    assert served == [AppSettings(host="0.0.0.0", port=9000, results_dir="elsewhere", page_size=5)]
    assert main(["app", "--port", "70000"]) == 2


def test_a_calibration_registered_while_the_app_runs_is_used_for_its_category(app_client, demo, tmp_path):
    from filo.registry.calibration import calibrate_category
    from filo.registry.category_calibrations import register_category_verdict

    def upload(category):
        image = demo.images[0]
        answer = app_client.post("/api/predict", params={"model": CHAMPION, "category": category, "name": image.name},
                                 content=image.read_bytes())
        assert answer.status_code == 200, answer.text
        return answer.json()

    before = upload("brake disc")  # loads the champion's predictor; no calibration of its own yet
    assert "no calibration of its own" in before["calibration"]["summary"]
    good = tmp_path / "good"
    good.mkdir()
    for number, image in enumerate(demo.images[:4]):
        (good / f"{number}.png").write_bytes(image.read_bytes())
    verdict = calibrate_category(CHAMPION, good, "brake disc", 0.25)
    register_category_verdict(verdict)
    after = upload("Brake Disc")
    assert after["threshold"] == verdict.threshold != before["threshold"]
    assert after["calibration"]["category"] == "brake_disc"
    assert after["calibration"]["summary"].startswith("calibrated on brake_disc's own good images")
