"""Heat-map overlays: aligned with the model's input, blended at 0.5, written atomically."""

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image

from filo.model.clip_backbone import create_clip
from filo.prediction.overlay import ModelView, overlay_image, overlay_path, write_overlay


def test_the_split_preprocessing_equals_the_model_preprocessing():
    preprocess = create_clip("filo-tiny", None, 64).preprocess
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8))
    view = ModelView.from_preprocess(preprocess)
    shown = view.geometric(image)
    assert shown.size == (64, 64)
    assert torch.equal(view.to_tensor(shown), preprocess(image))


def test_overlay_blends_the_colour_mapped_map_at_one_half():
    view = Image.new("RGB", (4, 4), (200, 100, 0))
    values = np.zeros((4, 4), dtype=np.float32)
    values[0, 0] = 1.0
    values[1, 1] = 7.0  # clipped to 1
    blended = np.asarray(overlay_image(view, values), dtype=np.float32)
    for (row, col), value in {(0, 0): 1.0, (1, 1): 1.0, (3, 3): 0.0}.items():
        expected = 0.5 * np.array([200, 100, 0]) + 0.5 * 255 * np.array(colormaps["jet"](value)[:3])
        np.testing.assert_allclose(blended[row, col], np.rint(expected), atol=1)


def test_overlay_refuses_a_map_of_another_size():
    with pytest.raises(ValueError, match="does not match"):
        overlay_image(Image.new("RGB", (4, 4)), np.zeros((3, 3)))


def test_same_named_images_in_different_folders_get_different_overlays(tmp_path):
    first = overlay_path(tmp_path / "out", tmp_path / "a" / "000.png")
    second = overlay_path(tmp_path / "out", tmp_path / "b" / "000.png")
    assert first != second
    assert first.name.startswith("000.") and first.name.endswith(".heatmap.png")


def test_write_overlay_leaves_only_the_png(tmp_path):
    path = write_overlay(tmp_path / "x.png", Image.new("RGB", (8, 8)), np.full((8, 8), 0.3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    with Image.open(path) as written:
        assert written.format == "PNG" and written.size == (8, 8)
