"""Registration recalibrates each verdict on good images scored as the registered model serves them."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from prediction.builders import VISA_CATEGORY

from filo.data.index import index_dataset
from filo.data.manifest import read_manifest
from filo.data.synthetic import generate_dataset
from filo.descriptions import load_descriptions
from filo.errors import FiloError
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.predictor import Predictor
from filo.registry.bundle import inspect_direction
from filo.registry.calibration import calibrate_direction
from filo.registry.registration import register_bundle
from filo.registry.settings import RegisterSettings

from .conftest import MVTEC_TO_VISA, make_direction

TARGET_FPR = 0.1


@pytest.fixture(scope="module")
def good_manifest(tmp_path_factory):
    """20 good and a few anomalous test images of the target category, indexed."""
    root = tmp_path_factory.mktemp("calibration")
    generate_dataset("visa", root / "data", seed=3, categories=[VISA_CATEGORY], image_size=64,
                     n_train_good=1, n_test_good=20, n_test_per_defect=1)
    index_dataset(root / "data", root / "manifest.parquet", dataset="synth_visa")
    return root / "manifest.parquet"


def _flagged_share(direction, manifest, tmp_path) -> float:
    frame = read_manifest(manifest)
    good = frame[(frame["split"] == "test") & (frame["label"] == 0)]
    predictor = Predictor([direction.candidate()], DescriptionLookup([load_descriptions(direction.files.descriptions)]))
    verdicts = [p.verdict for p in predictor.predict(good["image_path"].tolist(), VISA_CATEGORY, tmp_path / "maps",
                                                      progress=False)]
    return verdicts.count("anomalous") / len(verdicts)


def test_the_calibrated_threshold_flags_at_most_the_target_share_of_good_images(good_manifest, tmp_path):
    direction = inspect_direction(make_direction(tmp_path / "m2v", "synth_mvtec", "synth_visa", image_auroc=0.7,
                                                 pixel_auroc=0.8, threshold=-1.0))
    assert _flagged_share(direction, good_manifest, tmp_path) == 1.0  # evaluate's threshold flags every image

    calibrated = calibrate_direction(direction, good_manifest, TARGET_FPR)

    assert calibrated.calibration.as_dict() == {"rule": "fpr", "target_fpr": TARGET_FPR, "n_good": 20}
    assert 0.0 < _flagged_share(calibrated, good_manifest, tmp_path) <= TARGET_FPR


def test_registration_records_the_served_calibration(good_manifest, mlflow_store, tmp_path):
    files = make_direction(tmp_path / "m2v", "synth_mvtec", "synth_visa", image_auroc=0.7, pixel_auroc=0.8,
                           threshold=-1.0)
    settings = RegisterSettings(dvc_lock=tmp_path / "none.lock", calibrate_fpr=TARGET_FPR)
    with pytest.raises(FiloError, match="one calibration manifest per direction"):
        register_bundle([files], settings, repo=tmp_path)

    register_bundle([files], settings, calibration_manifests=[good_manifest], repo=tmp_path)

    tags = MlflowClient(mlflow_store).get_model_version("filo", "1").tags
    assert tags[f"verdict.{MVTEC_TO_VISA}.rule"] == "fpr" and tags[f"verdict.{MVTEC_TO_VISA}.n_good"] == "20"
    expected = calibrate_direction(inspect_direction(files), good_manifest, TARGET_FPR).threshold
    assert float(tags[f"verdict.{MVTEC_TO_VISA}.threshold"]) == pytest.approx(expected)
