"""Registration calibrates every direction on each extra target (your product folder) and records it."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from filo.data.index import index_dataset
from filo.descriptions import resolve_descriptions, write_descriptions
from filo.errors import FiloError
from filo.registry.bundle import inspect_direction
from filo.registry.calibration import calibrate_direction
from filo.registry.registration import register_bundle
from filo.registry.settings import RegisterSettings

from .conftest import MVTEC_TO_VISA, make_direction

TARGET_FPR = 0.1


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """A generated product folder (category gear_wheel, 10 good images, a few defects), indexed, and its descriptions."""
    from filo.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("product")
    folder = generate_dataset("folder", root / "gear", seed=5, categories=["round_part"], image_size=64,
                              n_train_good=1, n_test_good=10, n_test_per_defect=1)
    index_dataset(folder, root / "product.parquet", dataset="my_product", layout="folder", categories=("gear_wheel",))
    (root / "user.yaml").write_text("source: user\ncategories:\n  gear_wheel: [crack in the gear wheel, dent]\n")
    write_descriptions(root / "product.json",
                       resolve_descriptions(["gear_wheel"], user_file=root / "user.yaml", cache_dir=root / "cache"))
    return root / "product.parquet", root / "product.json"


@pytest.fixture(scope="module")
def visa_manifest(tmp_path_factory):
    """The direction's own evaluation set (its verdict is recalibrated on it too)."""
    from prediction.builders import VISA_CATEGORY

    from filo.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("visa")
    generate_dataset("visa", root / "data", seed=3, categories=[VISA_CATEGORY], image_size=64,
                     n_train_good=1, n_test_good=4, n_test_per_defect=1)
    index_dataset(root / "data", root / "manifest.parquet", dataset="synth_visa")
    return root / "manifest.parquet"


def test_each_direction_is_calibrated_on_the_targets_good_images_and_recorded(product, visa_manifest, mlflow_store,
                                                                              tmp_path):
    files = make_direction(tmp_path / "m2v", "synth_mvtec", "synth_visa", image_auroc=0.7, pixel_auroc=0.8,
                           threshold=-1.0)
    manifest, descriptions = product
    with pytest.raises(FiloError, match="register.calibrate_fpr, which is not set"):
        register_bundle([files], RegisterSettings(dvc_lock=tmp_path / "none.lock"), targets=[product], repo=tmp_path)

    settings = RegisterSettings(dvc_lock=tmp_path / "none.lock", calibrate_fpr=TARGET_FPR)
    result = register_bundle([files], settings, calibration_manifests=[visa_manifest], targets=[product], repo=tmp_path,
                             out=tmp_path / "registration.json")

    import dataclasses

    served = inspect_direction(dataclasses.replace(files, descriptions=descriptions))
    expected = calibrate_direction(served, manifest, TARGET_FPR).threshold
    [target] = result.targets
    assert (target.dataset, target.direction, target.categories) == ("my_product", MVTEC_TO_VISA, ("gear_wheel",))
    assert target.threshold == pytest.approx(expected) and target.calibration.n_good == 10
    tags = MlflowClient(mlflow_store).get_model_version("filo", "1").tags
    prefix = f"target.my_product.{MVTEC_TO_VISA}."
    assert float(tags[prefix + "threshold"]) == pytest.approx(expected)
    assert (tags[prefix + "rule"], tags[prefix + "n_good"], tags[prefix + "categories"]) == ("fpr", "10", "gear_wheel")
    record = json.loads((tmp_path / "registration.json").read_text())
    assert record["targets"] == [target.as_dict()] and str(manifest) in record["inputs"]
    from filo.data.manifest import read_manifest
    from filo.registry.category_calibrations import category_verdicts
    from filo.registry.loading import open_predictor

    # each target category is calibrated on its own too, as `filo calibrate --register` would: predict uses it
    own = category_verdicts(tags, "version 1")["gear_wheel"]
    assert own.threshold == pytest.approx(expected) and own.calibrated_on["n_images"] == 10
    assert own.calibrated_on["model"]["version"] == "1"
    image = read_manifest(manifest)["image_path"].iloc[0]
    predictor = open_predictor("models:/filo/1", descriptions=descriptions, download_dir=tmp_path / "download")
    [prediction] = predictor.predict([image], "gear_wheel", tmp_path / "maps", progress=False)
    assert prediction.threshold == pytest.approx(expected)
    assert prediction.to_dict()["calibration"]["category"] == "gear_wheel"
