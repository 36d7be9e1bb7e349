"""`filo calibrate`: a new category's threshold from its good images, written, registered and then served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from prediction.builders import VISA_CATEGORY, save_tiny_checkpoint, write_images

from filo.cli import main
from filo.evaluation.verdict import read_verdict
from filo.registry.calibration import calibrate_category, images_digest
from filo.registry.category_calibrations import CATEGORY_TAG_PREFIX

from .conftest import registered_champion

NEW_CATEGORY = "gear wheel"
"""A category no shipped description list has."""
NEW_KEY = "gear_wheel"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store (selected by MLFLOW_TRACKING_URI for this module) whose champion, version 1, holds both directions."""
    with registered_champion(tmp_path_factory.mktemp("calibrate-store")) as (uri, _):
        mlflow.set_tracking_uri(uri)
        yield uri


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """20 good images of the new category, in a nested folder."""
    folder = tmp_path_factory.mktemp("good")
    write_images(folder / "line1", 12, seed=5)
    write_images(folder / "line2", 8, seed=6)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", train_dataset="synth_mvtec",
                                trained_categories=["woven_fabric"])


def run_json(argv, capsys) -> tuple[int, list[dict] | dict | None]:
    """Exit code and what a filo command printed: calibrate's JSON document, or predict's objects (one per line)."""
    code = main(argv)
    out = capsys.readouterr().out
    if argv[0] == "calibrate":
        return code, json.loads(out) if out.strip() else None
    return code, [json.loads(line) for line in out.splitlines()]


def test_the_threshold_flags_at_most_the_target_share_and_the_verdict_records_what_it_was_chosen_on(
        checkpoint, good, tmp_path, capsys):
    out = tmp_path / "verdict.json"
    code, printed = run_json(["calibrate", str(good), "--category", NEW_CATEGORY, "--model", str(checkpoint),
                              "--target-fpr", "0.1", "--out", str(out)], capsys)
    assert code == 0
    verdict = read_verdict(out)
    assert printed["threshold"] == verdict.threshold
    assert (verdict.rule, verdict.target_fpr, verdict.category) == ("fpr", 0.1, NEW_KEY)
    assert verdict.confusion["fp"] + verdict.confusion["tn"] == 20 and verdict.confusion["fp"] <= 2
    recorded = verdict.calibrated_on
    assert recorded["n_images"] == 20 and recorded["folder"] == str(good)
    assert recorded["digest"] == images_digest(sorted(good.rglob("*.png")), good)
    assert recorded["model"]["reference"] == str(checkpoint) and len(recorded["model"]["sha256"]) == 64
    assert recorded["descriptions"]["source"] == "generic" and "warning" not in recorded

    # predict --verdict applies it, and every prediction names it
    code, lines = run_json(["predict", str(good), "--category", "Gear Wheel", "--model", str(checkpoint),
                            "--verdict", str(out), "--out-dir", str(tmp_path / "maps")], capsys)
    assert code == 0 and len(lines) == 20
    flagged = [line["verdict"] == "anomalous" for line in lines]
    assert sum(flagged) == verdict.confusion["fp"]  # the same scores as calibration saw
    assert all(line["threshold"] == verdict.threshold for line in lines)
    assert all(line["calibration"]["category"] == NEW_KEY and line["calibration"]["images_digest"] == recorded["digest"]
               for line in lines)
    assert lines[0]["calibration"]["summary"] == "calibrated on gear_wheel's own good images: FPR <= 10% on 20 good images"


def test_the_digest_changes_with_the_folder_content(good, tmp_path):
    copy = tmp_path / "copy"
    paths = sorted(good.rglob("*.png"))
    for path in paths:
        target = copy / path.relative_to(good)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    copied = sorted(copy.rglob("*.png"))
    assert images_digest(copied, copy) == images_digest(paths, good)
    write_images(tmp_path / "other", 1, seed=99)
    copied[0].write_bytes((tmp_path / "other" / "000.png").read_bytes())
    assert images_digest(copied, copy) != images_digest(paths, good)


def test_fewer_good_images_than_one_over_the_target_warn_and_say_how_many_are_needed(checkpoint, tmp_path, caplog):
    write_images(tmp_path / "few", 6)
    verdict = calibrate_category(checkpoint, tmp_path / "few", NEW_CATEGORY, 0.05)
    warnings = [record.getMessage() for record in caplog.records if "cannot be met with confidence" in record.getMessage()]
    assert len(warnings) == 1 and "at least 20 good images" in warnings[0] and "only 6" in warnings[0]
    assert verdict.calibrated_on["warning"] == warnings[0]


def _write_non_images(folder: Path) -> None:
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4")


def _write_broken_pngs(folder: Path) -> None:
    write_images(folder, 2)
    (folder / "broken.png").write_bytes(b"junk")


@pytest.mark.parametrize(("prepare", "message"), [
    (lambda folder: folder.mkdir(), "contains no images (it is empty"),
    (_write_non_images, "contains no images (it holds 2 other file(s)"),
    (_write_broken_pngs, "1 of 3 files that are not readable images"),
    (lambda folder: None, "is not a folder"),
])
def test_bad_input_is_explained_and_nothing_is_written(checkpoint, tmp_path, capsys, prepare, message):
    folder = tmp_path / "good"
    prepare(folder)
    out = tmp_path / "verdict.json"
    code = main(["calibrate", str(folder), "--category", NEW_CATEGORY, "--model", str(checkpoint), "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("name", ["gear/wheel", "w" * 300])
def test_a_category_name_with_a_slash_or_300_characters_is_refused(checkpoint, good, tmp_path, capsys, name):
    code = main(["calibrate", str(good), "--category", name, "--model", str(checkpoint),
                 "--out", str(tmp_path / "v.json")])
    assert code == 2 and "category name" in capsys.readouterr().err
    assert not (tmp_path / "v.json").exists()


def test_register_needs_a_registered_model(checkpoint, good, capsys):
    assert main(["calibrate", str(good), "--category", NEW_CATEGORY, "--model", str(checkpoint), "--register"]) == 2
    assert "registered model version" in capsys.readouterr().err


def test_a_registered_calibration_is_used_by_predict_and_the_pyfunc_model_for_its_category_only(
        store, good, tmp_path, capsys, caplog):
    code, printed = run_json(["calibrate", str(good), "--category", NEW_CATEGORY, "--target-fpr", "0.1",
                              "--register"], capsys)
    assert code == 0 and printed["registered_on"] == "models:/filo/1"
    assert printed["calibrated_on"]["model"] == {"reference": "models:/filo@champion", "name": "filo", "version": "1",
                                                 "direction": "synth_mvtec_to_synth_visa"}
    tags = MlflowClient(store).get_model_version("filo", "1").tags
    stored = json.loads(tags[f"{CATEGORY_TAG_PREFIX}{NEW_KEY}"])
    printed.pop("registered_on")
    assert stored == printed

    images = write_images(tmp_path / "probe", 2, seed=11)
    code, lines = run_json(["predict", *map(str, images), "--category", NEW_CATEGORY, "--out-dir",
                            str(tmp_path / "maps")], capsys)
    assert code == 0
    assert all(line["threshold"] == printed["threshold"] for line in lines)
    assert lines[0]["calibration"]["summary"].startswith("calibrated on gear_wheel's own good images")
    code, lines = run_json(["predict", str(images[0]), "--category", VISA_CATEGORY, "--out-dir",
                            str(tmp_path / "maps")], capsys)
    assert lines[0]["threshold"] == 0.4  # its direction's threshold, and it says where that comes from
    assert "no calibration of its own: threshold from dataset synth_visa" in lines[0]["calibration"]["summary"]
    mine = tmp_path / "mine.yaml"  # other descriptions than the calibration scored: said once
    mine.write_text("categories:\n  gear wheel: [chipped tooth, worn flank]\n")
    caplog.clear()
    code, lines = run_json(["predict", *map(str, images), "--category", NEW_CATEGORY, "--descriptions", str(mine),
                            "--out-dir", str(tmp_path / "maps"), "--batch-size", "1"], capsys)
    assert code == 0 and lines[0]["descriptions_source"] == "user"
    assert len([r for r in caplog.records if "scored other descriptions (generic)" in r.getMessage()]) == 1

    # the registered pyfunc model (what `mlflow models serve` runs for REST) reads the same tag
    model = mlflow.pyfunc.load_model("models:/filo@champion", model_config={"output_dir": str(tmp_path / "py")})
    table = pd.DataFrame({"image_path": [str(images[0]), str(images[0])], "category": ["Gear Wheel", VISA_CATEGORY]})
    output = model.predict(table)
    assert output["threshold"].tolist() == [printed["threshold"], 0.4]
    assert output["calibration"][0]["category"] == NEW_KEY and output["descriptions_source"][0] == "generic"
    assert output["descriptions_source"][1] == "user"


CALIBRATE = [sys.executable, "-m", "filo.cli", "calibrate"]


@pytest.mark.slow
def test_concurrent_registrations_on_one_version_are_each_recorded_whole(store, good, tmp_path):
    runs = [("gear wheel", "0.1"), ("gear wheel", "0.25"), ("brake disc", "0.1")]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store}
    processes = [subprocess.Popen([*CALIBRATE, str(good), "--category", category, "--target-fpr", fpr,
                                   "--model", "models:/filo/1", "--register"], cwd=tmp_path, env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for category, fpr in runs]
    results = [(process.wait(timeout=300), process.stdout.read(), process.stderr.read()) for process in processes]
    recorded = []
    for code, out, err in results:
        assert code in (0, 2), err
        if code == 2:
            assert "could not record the calibration" in err  # refused as a whole, with the way out
            continue
        document = json.loads(out)
        document.pop("registered_on")
        recorded.append(document)
    assert recorded, [err for _, _, err in results]
    tags = MlflowClient(store).get_model_version("filo", "1").tags
    for key in ("gear_wheel", "brake_disc"):
        candidates = [document for document in recorded if document["category"] == key]
        if candidates:  # the tag holds exactly one whole document a run printed (the later of the two wins)
            assert json.loads(tags[f"{CATEGORY_TAG_PREFIX}{key}"]) in candidates
    assert np.isfinite([json.loads(value)["threshold"] for tag, value in tags.items()
                        if tag.startswith(CATEGORY_TAG_PREFIX)]).all()
