"""Hostile inputs for the fault tests: image variants, decompression bombs, damaged files, a varying LLM."""

from __future__ import annotations

import json
import struct
import threading
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import numpy as np
from PIL import Image

CATEGORY = "woven_fabric"
"""The demo MVTec-layout category the fault tests index, describe, evaluate and predict."""


def colour_pixels(width: int = 48, height: int = 32) -> np.ndarray:
    """An asymmetric colour test card (so a rotation or channel swap is visible)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 5) % 256, (y * 7) % 256, (x * y) % 256], axis=2).astype(np.uint8)


def gray_pixels(width: int = 48, height: int = 32) -> np.ndarray:
    """An asymmetric grayscale test card."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 5 + y * 3) % 256).astype(np.uint8)


def write_mode_variants(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Files in hostile pixel formats, each with a plain 8-bit RGB PNG of what it must load as.

    Returns {variant: (hostile file, reference file)}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    colour, gray = colour_pixels(), gray_pixels()
    gray_rgb = np.repeat(gray[..., None], 3, axis=2)
    variants: dict[str, tuple[Image.Image, np.ndarray]] = {
        "gray": (Image.fromarray(gray), gray_rgb),
        "gray16": (Image.fromarray(gray.astype(np.uint16) * 257), gray_rgb),
        "rgba": (Image.fromarray(np.dstack([colour, np.full(gray.shape, 90, np.uint8)]), "RGBA"), colour),
        "cmyk": (Image.fromarray(colour).convert("CMYK"), colour),
    }
    palette = Image.fromarray(colour).quantize(colors=64)
    variants["palette"] = (palette, np.asarray(palette.convert("RGB")))
    pairs = {}
    for name, (image, expected) in variants.items():
        hostile = folder / f"{name}.{'tif' if name == 'cmyk' else 'png'}"
        image.save(hostile)
        reference = folder / f"{name}-reference.png"
        Image.fromarray(expected).save(reference)
        pairs[name] = (hostile, reference)
    pairs["exif_rotated"] = (write_exif_rotated(Image.fromarray(colour), folder / "exif_rotated.png"),
                             _save(Image.fromarray(colour), folder / "exif_rotated-reference.png"))
    return pairs


def _save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def write_exif_rotated(upright: Image.Image, path: Path) -> Path:
    """Store `upright` turned on its side with EXIF orientation 6 ("rotate 90° clockwise to view"), as phones do."""
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)
    return path


def write_bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A small PNG whose header claims `width` x `height` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def flip_tensor_bytes(path: Path, count: int = 200) -> None:
    """Flip `count` bytes in the middle of the largest tensor stored in a torch zip file (the pickle stays valid)."""
    with zipfile.ZipFile(path) as archive:
        entry = max((info for info in archive.infolist() if "/data/" in info.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[entry.header_offset + 26: entry.header_offset + 30])
    start = entry.header_offset + 30 + name_length + extra_length + entry.file_size // 2 - count // 2
    for offset in range(start, start + min(count, entry.file_size)):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


class VaryingChatServer:
    """A local OpenAI-compatible chat endpoint whose answer differs on every call (like a sampling LLM)."""

    def __init__(self, delay_s: float = 0.3) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    server.calls += 1
                    call = server.calls
                threading.Event().wait(delay_s)  # keep the call open so concurrent writers overlap
                content = json.dumps([f"defect variant {call}", f"stain number {call}"])
                body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]})
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CountingDetector:
    """A stand-in for Grounding DINO (the `BoxPredictor` protocol): one fixed box per image, calls counted."""

    def __init__(self) -> None:
        self.identity = {"config": "counting", "checkpoint_sha256": "0" * 64}
        self.images_seen = 0

    def predict(self, images, caption: str):
        self.images_seen += images.shape[0]
        tokens = len(caption.split()) + 2
        probs = np.full((images.shape[0], 1, tokens), 0.9, np.float32)
        boxes = np.tile(np.array([0.5, 0.5, 0.2, 0.2], np.float32), (images.shape[0], 1, 1))
        return probs, boxes

    def phrase_decoder(self, caption: str):
        return lambda posmap: "defect"


def write_manifest_of(path: Path, categories: list[str], *, split: str = "test") -> Path:
    """A valid manifest with one normal image per category (no files behind it: for stages that read names only)."""
    import pandas as pd

    from filo.data.manifest import COLUMNS, write_manifest

    rows = [{"image_id": f"{category}/{split}/good/000.png", "dataset": "d", "category": category, "split": split,
             "label": 0, "defect_type": "good", "image_path": f"/nowhere/{category}/{split}/good/000.png",
             "mask_path": None, "width": 8, "height": 8} for category in categories]
    write_manifest(pd.DataFrame(rows, columns=list(COLUMNS)), path, root="/nowhere", has_masks=True)
    return path
