"""Grounding DINO at prediction time: each image's anomaly position and the mask of its kept boxes.

The same rules as the offline `filo boxes` stage (caption, thresholds, phrase matching,
position); only the boxes whose phrase names an anomaly suppress the map, as in evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from filo.boxes.geometry import keep_mask
from filo.boxes.rules import AUTHORS_RULES, GENERAL_WORDS, BoxRules, build_caption, decide_image

if TYPE_CHECKING:
    import torch

    from filo.boxes.detector import GroundingDetector


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
    ) -> tuple[list[str | None], torch.Tensor]:
        """Per image: the position of its best anomaly box (None: average all) and a [B, S, S] keep mask."""
        import torch

        from filo.boxes.detector import load_detector_image

        caption = build_caption(descriptions)
        decode_phrase = self.detector.phrase_decoder(caption)
        match_words = (*descriptions, *GENERAL_WORDS)
        positions: list[str | None] = []
        masks = []
        for path in image_paths:
            image = load_detector_image(path, self.rules.image_size)
            probs, boxes = self.detector.predict(image[None], caption)
            decision = decide_image(probs[0], boxes[0], decode_phrase, match_words, self.rules)
            matched = np.array([box.xyxy for box in decision.kept if box.matched], dtype=np.float32)
            positions.append(decision.position)
            masks.append(keep_mask(matched.reshape(-1, 4), map_size, map_size, rule=self.rules.rule))
        return positions, torch.stack(masks)
