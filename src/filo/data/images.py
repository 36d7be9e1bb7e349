"""Reading dataset images and masks robustly, whatever pixel format they are stored in.

Conventions (shared by indexing, the torch dataset and prediction):
- Images come back as 8-bit RGB. Grayscale, bilevel, palette and CMYK images are
  converted; an alpha channel is dropped (the stored colours are kept, nothing is
  composited). 16-bit and 32-bit integer grayscale (`I;16*`, `I`) are scaled from
  the 16-bit range [0, 65535] to [0, 255] instead of being clipped at 255.
- Masks come back as boolean arrays: any non-zero pixel is anomalous. This covers
  0/255 masks (MVTec AD), small class ids (VisA), 16-bit and RGB(A) masks; for a
  palette mask the palette index is the value.
- EXIF orientation is applied to images and masks alike (a phone photo comes back upright,
  as every viewer shows it, and `read_size` reports the upright size), so a mask drawn on the
  upright photo lines up with it.
- Images larger than `max_image_pixels()` (default 100 megapixels, e.g. 10000x10000; set
  `FILO_MAX_IMAGE_PIXELS` to change it) are refused from their header, before any pixel is
  decoded, so a "decompression bomb" cannot exhaust memory. filo's limit replaces PIL's own
  check (`PIL.Image.MAX_IMAGE_PIXELS`) for the files it reads, so one limit decides.
- Any unreadable, truncated, oversized or missing file raises `FiloError` naming the path.

Every consumer (indexing, training, evaluation, Grounding DINO boxes, prediction) reads
pixels through `load_rgb` / `load_mask` and sizes through `read_size`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from filo.errors import FiloError

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_CONVERT_THROUGH_RGBA = {"P", "PA", "LA", "La", "RGBa"}
_TAIL_BYTES = 4096
_JPEG_END_OF_IMAGE = b"\xff\xd9"
_PNG_END_CHUNK = b"IEND"
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
MAX_IMAGE_PIXELS_ENV = "FILO_MAX_IMAGE_PIXELS"
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
_PIL_LIMIT_LOCK = threading.Lock()


def max_image_pixels() -> int:
    """The largest image (width x height) filo decodes: `$FILO_MAX_IMAGE_PIXELS`, else 100 megapixels."""
    raw = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(raw.replace("_", ""))
    except ValueError:
        limit = 0
    if limit <= 0:
        raise FiloError(f"{MAX_IMAGE_PIXELS_ENV}={raw!r} is not a positive whole number of pixels, e.g. 200000000")
    return limit


def _open_header(path: str | os.PathLike) -> Image.Image:
    """Open an image file lazily (header only) and refuse it when it is larger than `max_image_pixels()`.

    PIL's own decompression-bomb check is switched off while the header is parsed (under a
    lock, then restored), so that filo's limit, checked right after, is the one that decides.
    """
    limit = max_image_pixels()
    try:
        with _PIL_LIMIT_LOCK:
            pil_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = pil_limit
    except FileNotFoundError as error:
        raise FiloError(f"image file not found: {path}") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise FiloError(f"cannot read the image header of {path} ({error}); the file is corrupt") from error
    width, height = image.size
    if width * height > limit:
        image.close()
        raise FiloError(
            f"image {path} is {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the limit of "
            f"{limit / 1e6:g} megapixels; shrink it, or raise the limit with {MAX_IMAGE_PIXELS_ENV}=<pixels>"
        )
    return image


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright) of an opened image."""
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1


def _open_decoded(path: str | os.PathLike) -> Image.Image:
    """Open, size-check and fully decode an image file, upright per its EXIF orientation.

    Every read failure becomes a FiloError naming the path.
    """
    image = _open_header(path)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image) if _orientation(image) != 1 else image
    except (OSError, SyntaxError, ValueError) as error:
        raise FiloError(
            f"cannot decode image {path} ({error}); the file is corrupt or truncated: "
            "re-download or re-export it"
        ) from error
    return upright


def _sixteen_bit_to_8_bit(image: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer grayscale image from [0, 65535] to an 8-bit 'L' image."""
    values = np.asarray(image).astype(np.float64)
    scaled = np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled)


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Load an image file as an 8-bit RGB PIL image (see the module docstring for the conversions)."""
    image = _open_decoded(path)
    if image.mode in _SIXTEEN_BIT_MODES:
        image = _sixteen_bit_to_8_bit(image)
    elif image.mode in _CONVERT_THROUGH_RGBA:
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """Load a mask file as a (height, width) boolean array: True where any channel is non-zero."""
    image = _open_decoded(path)
    values = np.asarray(image)
    if image.mode.endswith(("A", "a")):
        values = values[..., :-1]
    if values.ndim == 3:
        return np.any(values != 0, axis=2)
    return values != 0


def read_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as `load_rgb` returns it (upright), read from its header only."""
    with _open_header(path) as image:
        width, height = image.size
        return (height, width) if _orientation(image) in _TRANSPOSING_ORIENTATIONS else (width, height)


def find_decode_problem(path: str | os.PathLike, *, full_decode: bool = False) -> str | None:
    """Why an image file cannot be used (a short reason), or None when it looks whole.

    PNG and JPEG files are checked quickly by looking for their end marker near the end
    of the file (a truncated download or copy loses it); other formats, and every file
    when `full_decode` is set, are decoded completely.
    """
    suffix = Path(path).suffix.lower()
    if not full_decode and suffix in (".png", ".jpg", ".jpeg"):
        marker = _PNG_END_CHUNK if suffix == ".png" else _JPEG_END_OF_IMAGE
        try:
            read_size(path)
            with open(path, "rb") as handle:
                handle.seek(max(0, os.path.getsize(path) - _TAIL_BYTES))
                tail = handle.read()
        except (FiloError, OSError) as error:
            return str(error)
        return None if marker in tail else "truncated image (end marker missing)"
    try:
        _open_decoded(path)
    except FiloError as error:
        return str(error)
    return None
