"""Where a scoring run gets each image's Grounding DINO boxes: one interface, two sources.

* :class:`ArtifactBoxes`: the offline Parquet artifact of `filo boxes` (evaluation);
* :class:`DetectorBoxes`: a loaded detector run on the images as they come (prediction).

Both answer ``boxes_for(images, descriptions)`` with one :class:`ImageBoxes` per image,
and :func:`positions_and_masks` turns those into what the model takes (one position per
image and the keep masks of the matched boxes), so evaluation and prediction suppress
the map the same way. :func:`decide_images` is the detector step shared by the live source
and the offline extraction: one forward pass per group of same-shape images, then the
FiLo post-processing of `filo.boxes.rules`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Protocol

import numpy as np
import torch

from filo.boxes.artifact import ImageBoxes, load_boxes
from filo.boxes.detector import load_detector, load_detector_image
from filo.boxes.geometry import Rule, check_rule, keep_mask
from filo.boxes.rules import (
    AUTHORS_RULES,
    GENERAL_WORDS,
    BoxRules,
    ImageDecision,
    build_caption,
    decide_image,
)
from filo.errors import FiloError


@dataclass(frozen=True)
class ImageRef:
    """One image a box source is asked about: its manifest id (artifact lookup) and file (detector input)."""

    image_id: str
    path: str


class BoxSource(Protocol):
    """Gives the boxes of images of one category; `rule` is the geometry rule of their keep masks."""

    rule: Rule

    def boxes_for(self, images: Sequence[ImageRef], descriptions: Sequence[str]) -> list[ImageBoxes]:
        """One entry per image, in order; `descriptions` are the category's (they make the detector caption)."""
        ...


class BoxPredictor(Protocol):
    """What box detection needs from a detector (`GroundingDetector` provides it; tests may fake it)."""

    identity: dict

    def predict(self, images: torch.Tensor, caption: str) -> tuple[np.ndarray, np.ndarray]: ...

    def phrase_decoder(self, caption: str) -> Callable[[np.ndarray], str]: ...


def decide_images(
    detector: BoxPredictor, images: Sequence[torch.Tensor], descriptions: Sequence[str], rules: BoxRules
) -> list[ImageDecision]:
    """The post-processed detections of images of one category, in input order.

    Images of identical shape share a forward pass (in input order), so no padding changes
    the model's output.
    """
    caption = build_caption(descriptions)
    decode_phrase = detector.phrase_decoder(caption)
    match_words = (*descriptions, *GENERAL_WORDS)
    decisions: list[ImageDecision | None] = [None] * len(images)
    by_shape = sorted(range(len(images)), key=lambda index: tuple(images[index].shape))
    for _, group in groupby(by_shape, key=lambda index: tuple(images[index].shape)):
        group = list(group)
        probs, boxes = detector.predict(torch.stack([images[index] for index in group]), caption)
        for index, image_probs, image_boxes in zip(group, probs, boxes):
            decisions[index] = decide_image(image_probs, image_boxes, decode_phrase, match_words, rules)
    return decisions


def decision_boxes(decision: ImageDecision) -> ImageBoxes:
    """The matched boxes of one detection, in the form the artifact loads them."""
    matched = [box for box in decision.kept if box.matched]
    return ImageBoxes(
        position=decision.position,
        boxes=np.array([box.xyxy for box in matched], dtype=np.float32).reshape(-1, 4),
        logits=np.array([box.logit for box in matched], dtype=np.float32),
        phrases=tuple(box.phrase for box in matched),
        error=None,
    )


class ArtifactBoxes:
    """Boxes read from the offline artifact of `filo boxes`, looked up by image id."""

    def __init__(self, by_image: Mapping[str, ImageBoxes], *, rule: Rule = "authors",
                 origin: str = "the boxes artifact") -> None:
        check_rule(rule)
        self.by_image = by_image
        self.rule = rule
        self.origin = origin

    @classmethod
    def load(cls, path: str | os.PathLike, *, rule: Rule = "authors") -> ArtifactBoxes:
        """Read a boxes artifact (see `filo.boxes.artifact.load_boxes`)."""
        return cls(load_boxes(path), rule=rule, origin=f"boxes file {path}")

    def boxes_for(self, images: Sequence[ImageRef], descriptions: Sequence[str]) -> list[ImageBoxes]:
        """The recorded boxes of each image; FiloError naming the images the artifact lacks."""
        missing = [image.image_id for image in images if image.image_id not in self.by_image]
        if missing:
            raise FiloError(
                f"{self.origin} has no entry for {len(missing)} test images (e.g. {missing[:3]}); "
                "re-run `filo boxes` on this manifest"
            )
        return [self.by_image[image.image_id] for image in images]


class DetectorBoxes:
    """Boxes from a loaded detector run on the image files, with the same rules as `filo boxes`."""

    def __init__(self, detector: BoxPredictor, rules: BoxRules = AUTHORS_RULES) -> None:
        self.detector = detector
        self.rules = rules
        self.rule = rules.rule

    @classmethod
    def load(
        cls,
        config_path: str | os.PathLike,
        checkpoint_path: str | os.PathLike,
        *,
        text_encoder: str | None = None,
        device: str | None = None,
        rules: BoxRules = AUTHORS_RULES,
    ) -> DetectorBoxes:
        """Build the detector from a Grounding DINO config and checkpoint (see `filo.boxes.detector`)."""
        return cls(load_detector(config_path, checkpoint_path, text_encoder=text_encoder, device=device), rules)

    def boxes_for(self, images: Sequence[ImageRef], descriptions: Sequence[str]) -> list[ImageBoxes]:
        """Detect each image on its own (one forward pass per image, as `filo predict` always has)."""
        return [
            decision_boxes(decide_images(self.detector, [load_detector_image(image.path, self.rules.image_size)],
                                         descriptions, self.rules)[0])
            for image in images
        ]


@dataclass(frozen=True)
class FoundBoxes:
    """What a box source says about a batch of images, in the forms the model and the reports take."""

    entries: list[ImageBoxes]
    """Per image: its matched boxes (normalized xyxy, logits, phrases) and position."""
    positions: list[str | None]
    """Per image: the 3x3 cell of its best matched box (None: average all positions)."""
    keep: torch.Tensor
    """[B, size, size] masks, 1 inside a matched box (the pixels box suppression keeps)."""


def positions_and_masks(
    source: BoxSource, images: Sequence[ImageRef], descriptions: Sequence[str], size: int
) -> FoundBoxes:
    """Per image: its boxes, its position and a [size, size] mask of its matched boxes."""
    found = source.boxes_for(images, descriptions)
    masks = [keep_mask(entry.boxes, size, size, rule=source.rule) for entry in found]
    return FoundBoxes(found, [entry.position for entry in found], torch.stack(masks))
