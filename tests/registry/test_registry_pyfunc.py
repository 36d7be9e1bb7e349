"""The registered pyfunc model: a table in, predictions out, in this process, a fresh one and `filo predict`."""

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from prediction.builders import MVTEC_CATEGORY, VISA_CATEGORY, write_images

from filo.cli import main
from filo.errors import FiloError
from filo.registry.bundle import inspect_direction
from filo.registry.pyfunc import OUTPUT_COLUMNS, OUTPUT_DIR_ENV

from .conftest import MVTEC_TO_VISA, VISA_TO_MVTEC, registered_champion

CHAMPION_URI = "models:/filo@champion"


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory):
    """A store (selected by MLFLOW_TRACKING_URI for this module) whose champion holds both directions."""
    with registered_champion(tmp_path_factory.mktemp("champion-store")) as (uri, inputs):
        yield uri, {direction.name: direction for direction in map(inspect_direction, inputs)}


@pytest.fixture
def registered(champion_store):
    """The champion's directions (name -> inspected files); in-process MLflow calls go to its store."""
    mlflow.set_tracking_uri(champion_store[0])
    return champion_store[1]


@pytest.fixture
def table(tmp_path):
    images = write_images(tmp_path / "images", 3)
    return pd.DataFrame({"image_path": list(map(str, images)),
                         "category": [VISA_CATEGORY, "Woven Fabric", VISA_CATEGORY]})


def direct_scores(directions, table):
    """Scores of each row computed with the direction's checkpoint outside MLflow."""
    from filo.prediction import DescriptionLookup, Predictor

    scores = []
    for path, category in zip(table["image_path"], table["category"]):
        direction = directions[MVTEC_TO_VISA if category == VISA_CATEGORY else VISA_TO_MVTEC]
        predictor = Predictor([direction.candidate()], DescriptionLookup.from_file(direction.files.descriptions))
        (result,) = predictor.predict([path], predictor.category_key(category), "unused-out", progress=False)
        scores.append(result.score)
    return scores


def test_pyfunc_predicts_each_row_with_its_zero_shot_direction(registered, table, tmp_path):
    model = mlflow.pyfunc.load_model(CHAMPION_URI, model_config={"output_dir": str(tmp_path / "maps")})
    output = model.predict(table)
    assert list(output.columns) == list(OUTPUT_COLUMNS)
    assert output["model"].tolist() == [MVTEC_TO_VISA, VISA_TO_MVTEC, MVTEC_TO_VISA]
    assert output["score"].tolist() == pytest.approx(direct_scores(registered, table), abs=1e-6)
    thresholds = [0.4, 0.6, 0.4]
    assert output["verdict"].tolist() == [
        "anomalous" if score >= threshold else "normal" for score, threshold in zip(output["score"], thresholds)
    ]
    assert output["position"].isna().all() and output["error"].isna().all()
    assert all(path.startswith(str(tmp_path / "maps")) and os.path.isfile(path) for path in output["anomaly_map_path"])
    assert all(set(item) == {"description", "similarity"} for row in output["top_descriptions"] for item in row)


def test_concurrent_first_requests_all_get_the_answer_of_a_lone_request(registered, table, tmp_path):
    # `mlflow models serve` calls predict from several threads; the first calls load the models lazily.
    from concurrent.futures import ThreadPoolExecutor

    model = mlflow.pyfunc.load_model(CHAMPION_URI, model_config={"output_dir": str(tmp_path / "maps")})
    with ThreadPoolExecutor(max_workers=6) as pool:
        outputs = list(pool.map(lambda _: model.predict(table), range(6)))
    expected = direct_scores(registered, table)
    for output in outputs:
        assert output["error"].isna().all()
        assert output["score"].tolist() == pytest.approx(expected, abs=1e-6)


def test_pyfunc_overlays_go_to_the_environment_directory(registered, table, tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "from-env"))
    output = mlflow.pyfunc.load_model(CHAMPION_URI).predict(table.iloc[:1])
    assert output["anomaly_map_path"][0].startswith(str(tmp_path / "from-env"))


def test_pyfunc_refuses_a_table_without_categories_or_images(registered, table):
    model = mlflow.pyfunc.load_model(CHAMPION_URI).unwrap_python_model()
    with pytest.raises(FiloError, match="give 'category' and one of"):
        model.predict(None, table[["image_path"]])
    with pytest.raises(FiloError, match=r"rows \[1\] lack a category"):
        model.predict(None, table.assign(category=["wood_grain", None, "wood_grain"]))
    both = table.assign(image=[b"x", None, None])
    with pytest.raises(FiloError, match=r"rows \[0\] .*exactly one of \['image', 'image_path'\]"):
        model.predict(None, both)
    with pytest.raises(FiloError, match="param raw_maps must be one of"):
        model.predict(None, table, params={"raw_maps": "tiff"})


def test_images_sent_as_bytes_get_the_same_answer_and_the_map_inline(registered, table, tmp_path):
    model = mlflow.pyfunc.load_model(CHAMPION_URI, model_config={"output_dir": str(tmp_path / "maps")})
    by_path = model.predict(table)
    sent = pd.DataFrame({"image": [Path(p).read_bytes() for p in table["image_path"]], "category": table["category"]})
    by_bytes = model.predict(sent, params={"raw_maps": "npy"})
    assert by_bytes["score"].tolist() == pytest.approx(by_path["score"].tolist(), abs=1e-6)
    assert by_bytes["verdict"].tolist() == by_path["verdict"].tolist()
    assert by_bytes["anomaly_map_path"].isna().all() and by_path["raw_map"].isna().all()
    for inline, path in zip(by_bytes["anomaly_map_png"], by_path["anomaly_map_path"]):
        assert base64.b64decode(inline) == Path(path).read_bytes()
        with Image.open(io.BytesIO(base64.b64decode(inline))) as overlay:
            assert overlay.size == (80, 60)  # the sent image's size
    assert np.load(io.BytesIO(base64.b64decode(by_bytes["raw_map"][0]))).shape == (60, 80)
    calibration = by_bytes["calibration"][0]
    assert {key: calibration[key] for key in ("rule", "target_fpr", "n_good", "dataset")} == {
        "rule": "fpr", "target_fpr": 0.05, "n_good": 20, "dataset": "synth_visa"}
    assert "has no calibration of its own: threshold from dataset synth_visa" in calibration["summary"]


def test_the_registered_model_documents_its_input(registered):
    from mlflow.models import Model
    from mlflow.models.utils import load_serving_example

    local = mlflow.artifacts.download_artifacts(CHAMPION_URI)
    info = Model.load(local)
    assert {column.name for column in info.signature.inputs.inputs} == {"image", "image_path", "category"}
    assert info.signature.params.to_dict()[0]["name"] == "raw_maps"
    example = json.loads(load_serving_example(local))
    assert example["dataframe_split"]["columns"] == ["image", "category"]
    assert example["params"] == {"raw_maps": ""}


def test_filo_predict_uses_the_registered_champion_by_default(registered, table, tmp_path, capsys):
    paths = table["image_path"].tolist()
    assert main(["predict", *paths, "--category", MVTEC_CATEGORY, "--out-dir", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["model"] for line in lines] == [VISA_TO_MVTEC] * 3
    assert [line["threshold"] for line in lines] == [0.6] * 3
    expected = direct_scores(registered, table.assign(category=MVTEC_CATEGORY))
    assert [line["score"] for line in lines] == pytest.approx(expected, abs=1e-6)


def test_a_missing_registered_model_is_explained(mlflow_store, tmp_path, capsys):
    images = write_images(tmp_path / "images", 1)
    assert main(["predict", str(images[0]), "--category", VISA_CATEGORY]) == 2
    error = capsys.readouterr().err
    assert "models:/filo@champion" in error and "filo register" in error


FRESH_PROCESS = """
import json, sys, mlflow.pyfunc, pandas as pd
table = pd.DataFrame(json.loads(sys.argv[1]))
output = mlflow.pyfunc.load_model("models:/filo@champion", model_config={"output_dir": sys.argv[2]}).predict(table)
print(output[["score", "verdict", "model"]].to_json(orient="records"))
"""


@pytest.mark.slow
def test_the_champion_loads_and_predicts_identically_in_a_fresh_process(champion_store, table, tmp_path):
    in_process = mlflow.pyfunc.load_model(CHAMPION_URI, model_config={"output_dir": str(tmp_path / "a")}).predict(table)
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, table.to_json(orient="records"), str(tmp_path / "b")],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": champion_store[0]},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    fresh = pd.DataFrame(json.loads(completed.stdout.strip().splitlines()[-1]))
    assert fresh["score"].tolist() == pytest.approx(in_process["score"].tolist(), abs=1e-6)
    assert fresh["verdict"].tolist() == in_process["verdict"].tolist()
    assert fresh["model"].tolist() == in_process["model"].tolist()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_mlflow_serves_the_champion_over_rest_with_the_image_bytes(champion_store, tmp_path, capsys):
    import signal
    import time

    import requests

    image = write_images(tmp_path / "images", 1, size=(96, 40))[0]
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            ["mlflow", "models", "serve", "-m", CHAMPION_URI, "--env-manager", "local", "-h", "127.0.0.1",
             "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
            env={**os.environ, "MLFLOW_TRACKING_URI": champion_store[0]},
        )
        try:
            deadline = time.monotonic() + 600
            while True:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the MLflow server did not answer /ping within 600 s"
                try:
                    if requests.get(f"http://127.0.0.1:{port}/ping", timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(1)
            request = {"dataframe_split": {"columns": ["image", "category"],
                                           "data": [[base64.b64encode(image.read_bytes()).decode(), VISA_CATEGORY]]}}
            answer = requests.post(f"http://127.0.0.1:{port}/invocations", json=request, timeout=300)
            assert answer.status_code == 200, answer.text
            (served,) = answer.json()["predictions"]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    assert main(["predict", str(image), "--category", VISA_CATEGORY, "--out-dir", str(tmp_path / "cli")]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert served["score"] == pytest.approx(line["score"], abs=1e-6)
    assert (served["verdict"], served["threshold"], served["model"]) == (line["verdict"], line["threshold"],
                                                                          line["model"])
    assert served["calibration"] == line["calibration"]
    assert base64.b64decode(served["anomaly_map_png"]) == Path(line["anomaly_map_path"]).read_bytes()
