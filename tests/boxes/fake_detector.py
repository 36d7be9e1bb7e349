"""A deterministic stand-in for Grounding DINO: outputs depend on the image content and the caption."""

from __future__ import annotations

import numpy as np
import torch

QUERIES = 6


class FakeDetector:
    """Implements the BoxPredictor protocol; optionally crashes after a number of predict calls."""

    def __init__(self, *, crash_after_calls: int | None = None, name: str = "fake") -> None:
        self.identity = {"config": name, "checkpoint_sha256": "0" * 64}
        self.crash_after_calls = crash_after_calls
        self.calls = 0
        self.images_seen = 0
        self.batch_shapes: list[tuple] = []

    def predict(self, images: torch.Tensor, caption: str) -> tuple[np.ndarray, np.ndarray]:
        if self.crash_after_calls is not None and self.calls >= self.crash_after_calls:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.images_seen += images.shape[0]
        self.batch_shapes.append(tuple(images.shape))
        tokens = len(caption.split()) + 2
        probs, boxes = [], []
        for image in images:
            seed = int(abs(float(image.mean())) * 1e6) % (2**32)
            rng = np.random.default_rng(seed)
            probs.append(rng.uniform(0.0, 0.6, size=(QUERIES, tokens)).astype(np.float32))
            boxes.append(rng.uniform(0.05, 0.9, size=(QUERIES, 4)).astype(np.float32))
        return np.stack(probs), np.stack(boxes)

    def phrase_decoder(self, caption: str):
        words = ["[CLS]", *caption.split(), "[SEP]"]

        def decode(posmap: np.ndarray) -> str:
            return " ".join(word for word, on in zip(words, posmap) if on)

        return decode
