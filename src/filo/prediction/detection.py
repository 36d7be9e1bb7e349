"""Grounding DINO at prediction time: each image's anomaly position and the mask of its kept boxes.

The same rules as the offline `filo boxes` stage (caption, thresholds, phrase matching,
position); only the boxes whose phrase names an anomaly suppress the map, as in evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from filo.boxes.geometry import keep_mask
from filo.boxes.rules import AUTHORS_RULES, GENERAL_WORDS, BoxRules, build_caption, decide_image

if TYPE_CHECKING:
    import torch

    from filo.boxes.detector import GroundingDetector


@dataclass(frozen=True)
class FoundBoxes:
    """What the detector found in a batch of images."""

    positions: list[str | None]
    """Per image: the 3x3 cell of its best anomaly box (None: average all positions)."""
    keep: torch.Tensor
    """[B, S, S] keep masks (1 inside a matched box) for map suppression."""
    boxes: list[list[dict]]
    """Per image: its matched boxes, {"xyxy": [x0, y0, x1, y1] in [0, 1] of the image, "phrase", "logit"}."""


class LiveBoxes:
    """Runs a loaded detector on image files and turns its output into positions and keep masks."""

    def __init__(self, detector: GroundingDetector, rules: BoxRules = AUTHORS_RULES) -> None:
        self.detector = detector
        self.rules = rules

    @classmethod
    def load(
        cls,
        config_path: str | os.PathLike,
        checkpoint_path: str | os.PathLike,
        *,
        text_encoder: str | None = None,
        device: str | None = None,
        rules: BoxRules = AUTHORS_RULES,
    ) -> LiveBoxes:
        """Build the detector from a Grounding DINO config and checkpoint (see `filo.boxes.detector`)."""
        from filo.boxes.detector import load_detector

        return cls(load_detector(config_path, checkpoint_path, text_encoder=text_encoder, device=device), rules)

    def find(
        self, image_paths: Sequence[str | os.PathLike], descriptions: Sequence[str], map_size: int
    ) -> FoundBoxes:
        """Per image: the position of its best anomaly box, a keep mask of `map_size` and the matched boxes."""
        import torch

        from filo.boxes.detector import load_detector_image

        caption = build_caption(descriptions)
        decode_phrase = self.detector.phrase_decoder(caption)
        match_words = (*descriptions, *GENERAL_WORDS)
        positions: list[str | None] = []
        masks = []
        found: list[list[dict]] = []
        for path in image_paths:
            image = load_detector_image(path, self.rules.image_size)
            probs, boxes = self.detector.predict(image[None], caption)
            decision = decide_image(probs[0], boxes[0], decode_phrase, match_words, self.rules)
            kept = [box for box in decision.kept if box.matched]
            matched = np.array([box.xyxy for box in kept], dtype=np.float32)
            positions.append(decision.position)
            masks.append(keep_mask(matched.reshape(-1, 4), map_size, map_size, rule=self.rules.rule))
            found.append([{"xyxy": [float(v) for v in box.xyxy], "phrase": box.phrase, "logit": float(box.logit)}
                          for box in kept])
        return FoundBoxes(positions, torch.stack(masks), found)
