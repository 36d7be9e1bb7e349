"""The shared prediction loop: model scores, verdicts, descriptions, overlays and unreadable images."""

import numpy as np
import pytest
import torch
from PIL import Image

from filo.data.images import load_rgb
from filo.errors import FiloError
from filo.model.checkpoint import load_checkpoint
from filo.prediction import CandidateModel, DescriptionLookup, Predictor, verdict_of
from filo.prediction.geometry import MapGeometry

from .builders import DESCRIPTIONS, VISA_CATEGORY, write_descriptions_artifact


@pytest.fixture
def predictor(checkpoint, tmp_path):
    descriptions = write_descriptions_artifact(tmp_path / "d.json", [VISA_CATEGORY])
    candidate = CandidateModel.from_checkpoint(checkpoint, threshold=0.45)
    return Predictor([candidate], DescriptionLookup.from_file(descriptions))


def test_results_equal_the_model_run_directly(predictor, checkpoint, images, tmp_path):
    results = list(predictor.predict(images, VISA_CATEGORY, tmp_path / "out", batch_size=2, progress=False))
    model = load_checkpoint(checkpoint).eval()
    model.prepare(VISA_CATEGORY, DESCRIPTIONS)
    expected = model.predict(torch.stack([model.preprocess(load_rgb(p)) for p in images]), VISA_CATEGORY)
    assert [r.image_path for r in results] == [str(p) for p in images]
    np.testing.assert_allclose([r.score for r in results], expected.score.numpy(), rtol=1e-5, atol=1e-6)
    for result, top in zip(results, expected.top_descriptions):
        assert [(d["description"], pytest.approx(d["similarity"], abs=1e-5)) for d in result.top_descriptions] == top
        assert {d["description"] for d in result.top_descriptions} <= set(DESCRIPTIONS)
        assert result.verdict == verdict_of(result.score, 0.45)
        assert (result.model, result.threshold, result.position, result.error) == ("model", 0.45, None, None)
        with Image.open(result.anomaly_map_path) as overlay:
            assert overlay.size == (80, 60)  # the input image's size, not the model's 64x64


def test_raw_maps_are_the_model_maps_over_the_original_image(predictor, checkpoint, images, tmp_path):
    results = list(predictor.predict(images, VISA_CATEGORY, tmp_path / "out", progress=False, raw_maps="npy"))
    model = load_checkpoint(checkpoint).eval()
    model.prepare(VISA_CATEGORY, DESCRIPTIONS)
    expected = model.predict(torch.stack([model.preprocess(load_rgb(p)) for p in images]), VISA_CATEGORY)
    for result, model_map in zip(results, expected.anomaly_map.numpy()):
        saved = np.load(result.raw_map_path)
        assert saved.shape == (60, 80)
        np.testing.assert_allclose(saved, MapGeometry(64).to_original(model_map, 80, 60), atol=1e-5)
        assert result.raw_map_path.endswith(".map.npy")
    with pytest.raises(FiloError, match="raw map format"):
        next(predictor.predict(images, VISA_CATEGORY, tmp_path / "out", progress=False, raw_maps="tiff"))


def test_an_unreadable_image_gets_an_error_and_the_others_are_predicted(predictor, images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    results = list(predictor.predict([images[0], broken, images[1]], VISA_CATEGORY, tmp_path / "out", progress=False))
    assert [r.error is None for r in results] == [True, False, True]
    assert "broken.png" in results[1].error
    assert results[1].score is None and results[1].anomaly_map_path is None
    alone = list(predictor.predict(images[:2], VISA_CATEGORY, tmp_path / "out", progress=False))
    assert [results[0].score, results[2].score] == pytest.approx([r.score for r in alone], abs=1e-6)


def test_verdict_needs_a_threshold():
    assert verdict_of(0.7, None) is None
    assert verdict_of(0.5, 0.5) == "anomalous"
    assert verdict_of(0.49, 0.5) == "normal"
