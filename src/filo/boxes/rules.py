"""The FiLo Grounding DINO post-processing: thresholds, best-box fallback, phrase matching, position.

Everything here works on one image's raw model output as NumPy arrays, so it can be
tested with hand-made logits. The ``"authors"`` rule reproduces the reference code
(CASIA-IVA-Lab/FiLo ``test.py``):

* keep queries whose max token probability is > ``box_threshold`` and whose area
  (w*h of the normalized cxcywh box) is < ``area_threshold``; if none, keep the single
  best query (first argmax of the max token probability);
* each kept box's phrase is decoded from the caption tokens whose probability is
  > ``text_threshold``; the authors then label it ``phrase + "(" + str(logit)[:4] + ")"``
  and call a box *matched* when any description or general word is a substring of
  that labelled string (case-sensitive, descriptions as written, phrase lowercased);
* the position is the 3x3 cell of the centre of the best matched box, where logits
  are compared after truncating ``str(logit)`` to 4 characters and ties go to the
  later box; no matched box -> centre (S/2, S/2), i.e. ``"center"``; a centre that
  falls between the authors' inclusive cells gives position ``None``.

Note: the reference script reads ``--text_threshold`` but passes its box threshold as
the text threshold; with the defaults (both 0.25) that makes no difference. To reproduce
a run with a non-default box threshold, set ``text_threshold`` to the same value.

The ``"sane"`` rule compares float logits (first maximum wins), matches lowercase
words against the phrase only, and uses half-open cells covering the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from filo.boxes.geometry import Rule, check_rule, position_of
from filo.vocabulary import DEFAULT_POSITION

GENERAL_WORDS: tuple[str, ...] = ("anomaly", "damage", "broken", "defect", "contamination")

PhraseDecoder = Callable[[np.ndarray], str]


@dataclass(frozen=True)
class BoxRules:
    """Parameters of the post-processing (defaults: the authors' values)."""

    box_threshold: float = 0.25
    text_threshold: float = 0.25
    area_threshold: float = 0.7
    image_size: int = 518
    rule: Rule = "authors"

    def __post_init__(self) -> None:
        check_rule(self.rule)
        for name in ("box_threshold", "text_threshold", "area_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.image_size < 3:
            raise ValueError(f"image_size must be at least 3, got {self.image_size}")

    def as_dict(self) -> dict:
        """Plain dict of the parameters (recorded in the artifact metadata)."""
        return asdict(self)


AUTHORS_RULES = BoxRules()


@dataclass(frozen=True)
class KeptBox:
    """One box that survived thresholding (or the best-box fallback)."""

    query_index: int
    xyxy: tuple[float, float, float, float]
    logit: float
    phrase: str
    matched: bool


@dataclass(frozen=True)
class ImageDecision:
    """The post-processed result for one image."""

    n_raw_boxes: int
    kept: tuple[KeptBox, ...]
    position: str | None


def build_caption(descriptions: Sequence[str]) -> str:
    """The Grounding DINO caption: general words + descriptions joined by " . ", lowercased, ending in "."."""
    caption = " . ".join([*GENERAL_WORDS, *descriptions]).lower().strip()
    return caption if caption.endswith(".") else caption + "."


def truncated_logit(logit: float) -> float:
    """The authors' comparison value: ``float(str(logit)[:4])`` of the float32 logit as a Python float."""
    return float(str(float(np.float32(logit)))[:4])


def select_queries(
    token_probs: np.ndarray, boxes_cxcywh: np.ndarray, box_threshold: float, area_threshold: float
) -> np.ndarray:
    """Indices of the kept queries: max probability > threshold and area < limit, else the single best."""
    if token_probs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    best_probs = token_probs.max(axis=1)
    areas = boxes_cxcywh[:, 2] * boxes_cxcywh[:, 3]
    kept = np.flatnonzero((best_probs > box_threshold) & (areas < area_threshold))
    if kept.size == 0:
        kept = np.array([int(np.argmax(best_probs))])
    return kept


def phrase_matches(phrase: str, logit: float, words: Sequence[str], *, rule: Rule = "authors") -> bool:
    """Whether a box's phrase names an anomaly (see the module docstring for both rules)."""
    if rule == "authors":
        labelled = f"{phrase}({str(float(np.float32(logit)))[:4]})"
        return any(word in labelled for word in words)
    return any(word.lower() in phrase for word in words)


def cxcywh_to_xyxy(box: np.ndarray) -> tuple[float, float, float, float]:
    """Normalized (cx, cy, w, h) -> normalized (x1, y1, x2, y2), computed in float32."""
    cx, cy, w, h = np.asarray(box, dtype=np.float32)
    half_w, half_h = w / np.float32(2), h / np.float32(2)
    return (float(cx - half_w), float(cy - half_h), float(cx + half_w), float(cy + half_h))


def _authors_center(box_cxcywh: np.ndarray, size: int) -> tuple[float, float]:
    """Pixel centre as the authors compute it (float32: scale, to xyxy, average the corners)."""
    scaled = np.asarray(box_cxcywh, dtype=np.float32) * np.float32(size)
    x1 = scaled[0] - scaled[2] / np.float32(2)
    y1 = scaled[1] - scaled[3] / np.float32(2)
    x2, y2 = scaled[2] + x1, scaled[3] + y1
    return float((x1 + x2) / np.float32(2)), float((y1 + y2) / np.float32(2))


def best_matched_position(
    kept: Sequence[KeptBox], boxes_cxcywh: np.ndarray, image_size: int, *, rule: Rule = "authors"
) -> str | None:
    """The position of the best matched kept box (``"center"`` without one; None for the authors' gap)."""
    matched = [box for box in kept if box.matched]
    if rule == "authors":
        best, best_value = None, 0.0
        for box in matched:
            value = truncated_logit(box.logit)
            if value >= best_value:
                best, best_value = box, value
        center = (
            _authors_center(boxes_cxcywh[best.query_index], image_size)
            if best is not None
            else (image_size / 2, image_size / 2)
        )
        return position_of(*center, image_size, rule="authors")
    if not matched:
        return DEFAULT_POSITION
    best = max(matched, key=lambda box: box.logit)
    cx, cy = boxes_cxcywh[best.query_index][:2]
    return position_of(float(cx) * image_size, float(cy) * image_size, image_size, rule="sane")


def decide_image(
    token_probs: np.ndarray,
    boxes_cxcywh: np.ndarray,
    decode_phrase: PhraseDecoder,
    match_words: Sequence[str],
    rules: BoxRules,
) -> ImageDecision:
    """Apply thresholds, fallback, phrase matching and position to one image's model output.

    `token_probs` is (queries, text tokens) sigmoid probabilities, `boxes_cxcywh` is
    (queries, 4) normalized; `decode_phrase` maps a boolean token mask to the phrase.
    """
    token_probs = np.asarray(token_probs, dtype=np.float32)
    boxes_cxcywh = np.asarray(boxes_cxcywh, dtype=np.float32)
    kept = []
    for index in select_queries(token_probs, boxes_cxcywh, rules.box_threshold, rules.area_threshold):
        probs = token_probs[index]
        logit = float(probs.max())
        phrase = decode_phrase(probs > rules.text_threshold)
        kept.append(
            KeptBox(
                query_index=int(index),
                xyxy=cxcywh_to_xyxy(boxes_cxcywh[index]),
                logit=logit,
                phrase=phrase,
                matched=phrase_matches(phrase, logit, match_words, rule=rules.rule),
            )
        )
    position = best_matched_position(kept, boxes_cxcywh, rules.image_size, rule=rules.rule)
    return ImageDecision(n_raw_boxes=int(token_probs.shape[0]), kept=tuple(kept), position=position)
