"""A registered version that carries a `filo export`: the pyfunc model (and so `mlflow models serve`) uses it."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
from prediction.builders import VISA_CATEGORY, save_tiny_checkpoint, write_images

from filo.errors import FiloError
from filo.export import OnnxFiLo
from filo.registry.bundle import inspect_direction
from filo.registry.exporting import export_model
from filo.registry.registration import register_bundle
from filo.registry.settings import RegisterSettings

from .conftest import MVTEC_TO_VISA, make_bundle_inputs

pytestmark = pytest.mark.slow  # exports the tiny model (about half a minute on 2 cores)


def test_the_version_serves_the_exported_category_with_onnxruntime(mlflow_store, tmp_path):
    inputs = make_bundle_inputs(tmp_path / "inputs", mvtec_to_visa=(0.7, 0.8), visa_to_mvtec=(0.6, 0.7))
    directions = {d.name: d for d in map(inspect_direction, inputs)}
    mvtec_to_visa = directions[MVTEC_TO_VISA]
    exported = export_model(mvtec_to_visa.files.checkpoint, VISA_CATEGORY, tmp_path / "export",
                            descriptions=mvtec_to_visa.files.descriptions, threshold=0.99)
    result = register_bundle(inputs, RegisterSettings(dvc_lock=tmp_path / "none.lock"), repo=tmp_path,
                             exports=[exported.folder])

    images = write_images(tmp_path / "images", 2)
    table = pd.DataFrame({"image_path": list(map(str, images)), "category": [VISA_CATEGORY] * 2})
    served = mlflow.pyfunc.load_model(result.model_uri, model_config={"output_dir": str(tmp_path / "maps")})
    torch_only = mlflow.pyfunc.load_model(result.model_uri, model_config={"output_dir": str(tmp_path / "maps"),
                                                                          "runtime": "torch"})
    python_model = served.unwrap_python_model()
    assert set(python_model.exports) == {VISA_CATEGORY}
    assert isinstance(python_model.exports[VISA_CATEGORY]._model_for(VISA_CATEGORY)[1], OnnxFiLo)
    assert torch_only.unwrap_python_model().exports == {}

    onnx_rows, torch_rows = served.predict(table), torch_only.predict(table)
    assert (onnx_rows["score"] - torch_rows["score"]).abs().max() <= 1e-5
    # the version's threshold (its verdict.json), not the one given at export, decides the verdict
    assert (onnx_rows["threshold"] == mvtec_to_visa.threshold).all()
    assert onnx_rows["verdict"].tolist() == torch_rows["verdict"].tolist()


def test_an_export_of_another_checkpoint_is_refused(mlflow_store, tmp_path):
    inputs = make_bundle_inputs(tmp_path / "inputs", mvtec_to_visa=(0.7, 0.8), visa_to_mvtec=None)
    stranger = save_tiny_checkpoint(tmp_path / "other.pt", train_dataset="synth_mvtec", trained_categories=[], seed=7)
    exported = export_model(stranger, VISA_CATEGORY, tmp_path / "export")
    with pytest.raises(FiloError, match="none of this model version's directions"):
        register_bundle(inputs, RegisterSettings(dvc_lock=tmp_path / "none.lock"), repo=tmp_path,
                        exports=[exported.folder])
    assert mlflow.MlflowClient(mlflow_store).search_registered_models() == []


def test_an_export_by_alias_loads_the_version_its_manifest_names(mlflow_store, tmp_path, monkeypatch):
    """The alias is resolved once, to a number, and that version is loaded: moving the alias meanwhile changes nothing."""
    from filo.registry import exporting

    inputs = make_bundle_inputs(tmp_path / "inputs", mvtec_to_visa=(0.7, 0.8), visa_to_mvtec=(0.6, 0.7))
    result = register_bundle(inputs, RegisterSettings(dvc_lock=tmp_path / "none.lock"), repo=tmp_path)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(result.name, "line", result.version)
    loaded = []

    def recording_open_predictor(reference, **options):
        loaded.append(reference)
        return open_predictor(reference, **options)

    open_predictor = exporting.open_predictor
    monkeypatch.setattr(exporting, "open_predictor", recording_open_predictor)
    exported = export_model(f"models:/{result.name}@line", VISA_CATEGORY, tmp_path / "export")
    assert loaded == [f"models:/{result.name}/{result.version}"]
    assert exported.manifest["source"]["registered_version"] == f"{result.name}/{result.version}"
