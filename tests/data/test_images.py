"""Image and mask loading: every pixel format comes back as 8-bit RGB / boolean, bad files raise FiloError."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from filo.data.images import find_decode_problem, load_mask, load_rgb, read_size
from filo.errors import FiloError


def _gradient(width: int = 40, height: int = 30) -> np.ndarray:
    return (np.arange(width * height).reshape(height, width) % 256).astype(np.uint8)


def test_rgb_image_is_returned_unchanged(tmp_path):
    pixels = np.stack([_gradient(), 255 - _gradient(), np.full((30, 40), 7, np.uint8)], axis=2)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    image = load_rgb(tmp_path / "rgb.png")
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), pixels)


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "gray.png")
    pixels = np.asarray(load_rgb(tmp_path / "gray.png"))
    assert pixels.shape == (30, 40, 3)
    assert all(np.array_equal(pixels[..., channel], _gradient()) for channel in range(3))


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    pixels = np.asarray(load_rgb(tmp_path / "deep.png"))
    assert pixels[0, :, 0].tolist() == [0, 1, 128, 255]


def test_32_bit_integer_image_uses_the_16_bit_range(tmp_path):
    values = np.array([[0, 65535, 70000, -5]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "wide.tif")
    pixels = np.asarray(load_rgb(tmp_path / "wide.tif"))
    assert pixels[0, :, 0].tolist() == [0, 255, 255, 0]


def test_alpha_is_dropped_keeping_the_stored_colour(tmp_path):
    pixels = np.zeros((4, 4, 4), np.uint8)
    pixels[..., 0] = 200
    pixels[..., 3] = 0  # fully transparent
    Image.fromarray(pixels, mode="RGBA").save(tmp_path / "alpha.png")
    loaded = np.asarray(load_rgb(tmp_path / "alpha.png"))
    assert loaded.shape == (4, 4, 3)
    assert (loaded[..., 0] == 200).all() and (loaded[..., 1:] == 0).all()


def test_palette_image_uses_its_palette_colours(tmp_path):
    image = Image.new("P", (3, 2))
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "palette.png")
    pixels = np.asarray(load_rgb(tmp_path / "palette.png"))
    assert pixels[1, 1].tolist() == [10, 20, 30]
    assert pixels[0, 0].tolist() == [0, 0, 0]


def test_truncated_image_raises_filo_error_naming_the_path(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FiloError, match="cut.png"):
        load_rgb(tmp_path / "cut.png")


def test_missing_and_non_image_files_raise_filo_error(tmp_path):
    with pytest.raises(FiloError, match="not found.*nothing.png"):
        load_rgb(tmp_path / "nothing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(FiloError, match="text.png"):
        load_mask(tmp_path / "text.png")
    with pytest.raises(FiloError, match="text.png"):
        read_size(tmp_path / "text.png")


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        (np.array([[0, 255], [0, 0]], np.uint8), "L"),
        (np.array([[0, 3], [0, 0]], np.uint8), "L"),  # VisA class ids
        (np.array([[0, 1000], [0, 0]], np.uint16), "I;16"),
    ],
)
def test_mask_non_zero_pixels_are_anomalous(tmp_path, values, mode):
    Image.fromarray(values).save(tmp_path / "mask.png")
    mask = load_mask(tmp_path / "mask.png")
    assert mask.dtype == bool
    assert mask.tolist() == [[False, True], [False, False]]


def test_rgb_and_rgba_masks_ignore_alpha(tmp_path):
    pixels = np.zeros((2, 2, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[0, 1, 2] = 9
    Image.fromarray(pixels, mode="RGBA").save(tmp_path / "mask.png")
    assert load_mask(tmp_path / "mask.png").tolist() == [[False, True], [False, False]]
    Image.fromarray(pixels[..., :3]).save(tmp_path / "mask_rgb.png")
    assert load_mask(tmp_path / "mask_rgb.png").tolist() == [[False, True], [False, False]]


def test_read_size_is_width_height(tmp_path):
    Image.fromarray(_gradient(40, 30)).save(tmp_path / "a.jpg")
    assert read_size(tmp_path / "a.jpg") == (40, 30)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_find_decode_problem_spots_truncation(tmp_path, suffix):
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(tmp_path / f"whole{suffix}")
    data = (tmp_path / f"whole{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) * 2 // 3])
    assert find_decode_problem(tmp_path / f"whole{suffix}") is None
    assert find_decode_problem(tmp_path / f"whole{suffix}", full_decode=True) is None
    assert find_decode_problem(tmp_path / f"cut{suffix}") is not None
    assert find_decode_problem(tmp_path / f"cut{suffix}", full_decode=True) is not None
