"""Reading dataset images and masks robustly, whatever pixel format they are stored in.

Conventions (shared by indexing, the torch dataset and prediction):
- Images come back as 8-bit RGB. Grayscale, bilevel, palette and CMYK images are
  converted; an alpha channel is dropped (the stored colours are kept, nothing is
  composited). 16-bit and 32-bit integer grayscale (`I;16*`, `I`) are scaled from
  the 16-bit range [0, 65535] to [0, 255] instead of being clipped at 255.
- Masks come back as boolean arrays: any non-zero pixel is anomalous. This covers
  0/255 masks (MVTec AD), small class ids (VisA), 16-bit and RGB(A) masks; for a
  palette mask the palette index is the value.
- EXIF orientation is ignored for images and masks alike, so the two stay aligned.
- Any unreadable, truncated or missing file raises `FiloError` naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from filo.errors import FiloError

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_CONVERT_THROUGH_RGBA = {"P", "PA", "LA", "La", "RGBa"}
_TAIL_BYTES = 4096
_JPEG_END_OF_IMAGE = b"\xff\xd9"
_PNG_END_CHUNK = b"IEND"


def _open_decoded(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, turning every read failure into a FiloError."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError as error:
        raise FiloError(f"image file not found: {path}") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise FiloError(
            f"cannot decode image {path} ({error}); the file is corrupt or truncated: "
            "re-download or re-export it"
        ) from error
    return image


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
    """(width, height) of an image file, read from its header without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError as error:
        raise FiloError(f"image file not found: {path}") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise FiloError(f"cannot read the image header of {path} ({error}); the file is corrupt") from error


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
