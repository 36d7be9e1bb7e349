"""Model bundles: direction names, layout, validation and which direction serves a category."""

import json

import pytest
from prediction.builders import MVTEC_CATEGORY, VISA_CATEGORY, write_images

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.registry.bundle import BUNDLE_FILE, inspect_direction, read_bundle, write_bundle

from .conftest import MVTEC_TO_VISA, VISA_TO_MVTEC, make_bundle_inputs, make_direction


@pytest.fixture
def bundle(tmp_path):
    inputs = make_bundle_inputs(tmp_path / "inputs", mvtec_to_visa=(0.8, 0.9), visa_to_mvtec=(0.7, 0.85))
    return write_bundle([inspect_direction(files) for files in inputs], tmp_path / "bundle")


def test_directions_are_named_from_training_and_target_datasets(tmp_path):
    files = make_direction(tmp_path, "synth_visa", "synth_mvtec", image_auroc=0.7, pixel_auroc=0.8, threshold=0.3)
    direction = inspect_direction(files)
    assert direction.name == VISA_TO_MVTEC
    assert direction.threshold == 0.3
    assert direction.mean_metrics["image_auroc"] == 0.7
    assert set(direction.trained_categories) == {VISA_CATEGORY, "trace_board"}


def test_bundle_round_trip_and_mvtec_default(bundle, tmp_path):
    again = read_bundle(tmp_path / "bundle")
    assert sorted(again.directions) == [MVTEC_TO_VISA, VISA_TO_MVTEC]
    assert again.default_direction == MVTEC_TO_VISA
    index = json.loads((tmp_path / "bundle" / BUNDLE_FILE).read_text())
    assert index["directions"][VISA_TO_MVTEC]["files"]["checkpoint"] == f"{VISA_TO_MVTEC}/model.pt"
    assert again.directions[VISA_TO_MVTEC].threshold == 0.6
    assert index["directions"][VISA_TO_MVTEC]["calibration"] == {"rule": "fpr", "target_fpr": 0.05, "n_good": 20}
    assert again.directions[VISA_TO_MVTEC].calibration == Calibration("fpr", 0.05, 20)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_each_category_is_predicted_zero_shot_with_its_direction_threshold(bundle, tmp_path):
    predictor = bundle.predictor()
    images = write_images(tmp_path / "images", 1)
    (visa,) = predictor.predict(images, VISA_CATEGORY, tmp_path / "out", progress=False)
    (mvtec,) = predictor.predict(images, MVTEC_CATEGORY, tmp_path / "out", progress=False)
    (unseen,) = predictor.predict(images, "speckle_stone", tmp_path / "out", progress=False)
    assert (visa.model, visa.threshold) == (MVTEC_TO_VISA, 0.4)
    assert (mvtec.model, mvtec.threshold) == (VISA_TO_MVTEC, 0.6)
    assert unseen.model == MVTEC_TO_VISA
    assert visa.calibration == {
        "rule": "fpr", "target_fpr": 0.05, "n_good": 20, "dataset": "synth_visa",
        "summary": "wood_grain has no calibration of its own: threshold from dataset synth_visa (FPR <= 5% on 20 "
                   "good images, pooled over its categories); calibrate one with `filo calibrate GOOD_DIR --category "
                   "wood_grain --register` (or --out FILE, then `filo predict --verdict FILE`)"}
    manual = bundle.predictor(threshold=0.1).candidates[0]
    assert (manual.threshold, manual.calibration) == (0.1, Calibration("manual"))


def test_a_checkpoint_without_training_provenance_is_refused(tmp_path):
    files = make_direction(tmp_path, "synth_mvtec", "synth_visa", image_auroc=0.7, pixel_auroc=0.8)
    from filo.model.checkpoint import save_checkpoint
    from filo.model.config import preset_config
    from filo.model.filo import FiLo

    save_checkpoint(FiLo(preset_config("tiny")), files.checkpoint)
    with pytest.raises(FiloError, match="does not record its training dataset"):
        inspect_direction(files)


def test_metrics_without_a_dataset_are_refused(tmp_path):
    files = make_direction(tmp_path, "synth_mvtec", "synth_visa", image_auroc=0.7, pixel_auroc=0.8)
    files.metrics.write_text(json.dumps({"image_auroc": 0.7}))
    with pytest.raises(FiloError, match="metrics.json does not name its dataset"):
        inspect_direction(files)


def test_metrics_without_mean_metrics_are_refused(tmp_path):
    files = make_direction(tmp_path, "synth_mvtec", "synth_visa", image_auroc=0.7, pixel_auroc=0.8)
    files.metrics.write_text(json.dumps({"dataset": "synth_visa", "mean": {"image_auroc": 0.7}}))
    with pytest.raises(FiloError, match="metrics.json has no numeric mean metrics"):
        inspect_direction(files)


def test_two_directions_with_the_same_name_are_refused(tmp_path):
    first = make_direction(tmp_path / "a", "synth_mvtec", "synth_visa", image_auroc=0.7, pixel_auroc=0.8)
    second = make_direction(tmp_path / "b", "synth_mvtec", "synth_visa", image_auroc=0.6, pixel_auroc=0.8)
    with pytest.raises(FiloError, match="same name"):
        write_bundle([inspect_direction(first), inspect_direction(second)], tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_an_incomplete_bundle_is_named(bundle, tmp_path):
    (tmp_path / "bundle" / MVTEC_TO_VISA / "verdict.json").unlink()
    with pytest.raises(FiloError, match="incomplete"):
        read_bundle(tmp_path / "bundle")
    with pytest.raises(FiloError, match="not a filo model bundle"):
        read_bundle(tmp_path)


def test_open_predictor_accepts_a_bundle_folder(bundle, tmp_path):
    from filo.registry.loading import open_predictor

    predictor = open_predictor(tmp_path / "bundle", threshold=0.2)
    assert sorted(c.name for c in predictor.candidates) == [MVTEC_TO_VISA, VISA_TO_MVTEC]
    assert predictor.default.name == MVTEC_TO_VISA
    assert {c.threshold for c in predictor.candidates} == {0.2}


def test_a_malformed_bundle_index_is_named(bundle, tmp_path):
    index_path = tmp_path / "bundle" / BUNDLE_FILE
    index = json.loads(index_path.read_text())
    del index["directions"][VISA_TO_MVTEC]["threshold"]
    index_path.write_text(json.dumps(index))
    with pytest.raises(FiloError, match=f"direction '{VISA_TO_MVTEC}' is malformed"):
        read_bundle(tmp_path / "bundle")
