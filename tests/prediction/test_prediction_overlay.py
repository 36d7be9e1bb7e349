"""Heat-map overlays: maps put back on the original photo (undoing squash or crop), blended at 0.5,
boxes drawn in image pixels, raw maps saved as .npy / 16-bit PNG, all written atomically."""

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image, ImageFilter

from filo.model.clip_backbone import create_clip
from filo.prediction.geometry import MapGeometry
from filo.prediction.overlay import (
    BOX_COLOUR,
    ModelView,
    overlay_image,
    overlay_path,
    raw_map_bytes,
    raw_map_path,
    write_overlay,
)


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


def marker_photo(width=120, height=60, box=(70, 20, 80, 30)) -> Image.Image:
    """A black photo with one white square (x0, y0, x1, y1)."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


@pytest.mark.parametrize("resize_mode", ["squash", "shortest"])
def test_a_map_of_what_the_model_saw_lands_back_on_the_same_photo_pixels(resize_mode):
    # The "map" is the model's own view of a photo with a white square: mapped back, it must
    # light up that square in the photo and nothing far from it.
    preprocess = create_clip("filo-tiny", None, 64, resize_mode=resize_mode).preprocess
    photo = marker_photo()
    seen = np.asarray(ModelView.from_preprocess(preprocess).geometric(photo).convert("L"), dtype=np.float32) / 255
    full = MapGeometry(64, resize_mode).to_original(seen, photo.width, photo.height)
    assert full.shape == (60, 120)
    assert full[22:28, 72:78].min() > 0.5
    truth = np.asarray(photo.convert("L")) > 0
    far = ~np.asarray(Image.fromarray(truth).filter(ImageFilter.MaxFilter(9)))
    assert np.nanmax(full[far]) < 0.2
    if resize_mode == "squash":
        assert not np.isnan(full).any()
    else:  # the centre crop of a 2:1 photo shows its middle 60 columns only
        assert np.isnan(full[:, :30]).all() and np.isnan(full[:, 90:]).all()
        assert not np.isnan(full[:, 30:90]).any()


def test_pixels_the_model_never_saw_keep_the_photo_and_boxes_are_outlined():
    photo = Image.new("RGB", (20, 10), (10, 20, 30))
    values = np.full((10, 20), 0.5, dtype=np.float32)
    values[:, :5] = np.nan
    blended = np.asarray(overlay_image(photo, values, boxes=[(10, 2, 15, 8)]))
    assert (blended[5, 2] == (10, 20, 30)).all()
    assert not (blended[5, 7] == (10, 20, 30)).all()
    assert tuple(blended[2, 12]) == BOX_COLOUR and tuple(blended[5, 10]) == BOX_COLOUR
    assert tuple(blended[5, 12]) != BOX_COLOUR


def test_raw_maps_keep_their_values_next_to_the_overlay(tmp_path):
    import io

    values = np.array([[0.0, 0.25], [1.0, np.nan]], dtype=np.float32)
    loaded = np.load(io.BytesIO(raw_map_bytes(values, "npy")))
    np.testing.assert_array_equal(loaded, values)
    with Image.open(io.BytesIO(raw_map_bytes(values, "png16"))) as png:
        assert png.mode.startswith("I;16") or png.mode == "I"
        np.testing.assert_array_equal(np.asarray(png), [[0, 16384], [65535, 0]])
    overlay = overlay_path(tmp_path, tmp_path / "a.png")
    assert raw_map_path(overlay, "npy").name == overlay.name.replace(".heatmap.png", ".map.npy")
    assert raw_map_path(overlay, "png16").parent == overlay.parent
