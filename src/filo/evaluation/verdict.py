"""Image-level verdicts: the threshold that turns a score into "anomalous"/"normal", stored for prediction.

`verdict.json` (written by `filo evaluate`, read by `filo predict`)::

    {"schema_version": 1, "rule": "f1" | "fpr", "threshold": <float>,
     "target_fpr": <float>  (only for rule "fpr"),
     "n_good": <int>  (normal images scored: fp + tn; written for readers, not read back),
     "decision": "anomalous when score >= threshold",
     "confusion": {"tp": .., "fp": .., "tn": .., "fn": ..},
     "category": "<raw category>"  (only for a verdict calibrated on one category's good images),
     "calibrated_on": {...}  (only then: the folder, its content digest, the image count, the model)}

`filo evaluate`'s threshold serves the whole dataset (all categories pooled); `filo calibrate`
writes the same document for one category, calibrated on a folder of its good images
(`filo.registry.calibration`). Rules: ``fpr`` is how a
production line calibrates: the lowest threshold whose false-positive rate on the normal
(known-good) images is at most `target_fpr`, chosen from those images alone; ``f1`` (for
benchmark tables) is the F1-optimal threshold on the labelled evaluation images, which
depends on the share of anomalous images in that set.

Every registered version and every prediction states its `Calibration`: the rule, the
target FPR, how many good images the threshold was chosen from, and on what: one category's
good images, or a dataset's pooled over its categories.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from filo.errors import FiloError
from filo.io import atomic_write_text, read_json_document
from filo.vocabulary import check_category_name

SCHEMA_VERSION = 1
ThresholdRule = Literal["f1", "fpr"]
"""How a verdict threshold is chosen: F1-optimal, or a false-positive rate on normal images."""
THRESHOLD_RULES: tuple[str, ...] = get_args(ThresholdRule)
DECISION = "anomalous when score >= threshold"
_CONFUSION_KEYS = ("tp", "fp", "tn", "fn")


MANUAL_RULE = "manual"
"""The calibration rule of a threshold the user gave directly (`filo predict --threshold`)."""


@dataclass(frozen=True)
class Calibration:
    """How a verdict threshold was chosen: rule, target FPR (rule "fpr") and number of good images used."""

    rule: str
    """"fpr", "f1" or "manual"."""
    target_fpr: float | None = None
    n_good: int | None = None
    """Normal images the threshold was calibrated on (None for a manual threshold)."""
    category: str | None = None
    """The one category whose good images set it (`filo calibrate`); None: pooled over a dataset."""
    dataset: str | None = None
    """The dataset whose good images set it (a bundle direction's target dataset), when known."""
    images_digest: str | None = None
    """Content digest of the folder of good images (`filo calibrate`)."""

    def as_dict(self) -> dict:
        """Plain JSON-ready form: {"rule", "target_fpr", "n_good"}, plus category, dataset and images_digest when set."""
        document = {"rule": self.rule, "target_fpr": self.target_fpr, "n_good": self.n_good}
        document.update({key: value for key, value in (("category", self.category), ("dataset", self.dataset),
                                                        ("images_digest", self.images_digest)) if value is not None})
        return document

    @classmethod
    def from_dict(cls, document: dict) -> Calibration:
        """Inverse of `as_dict`."""
        return cls(str(document["rule"]), document.get("target_fpr"), document.get("n_good"),
                   document.get("category"), document.get("dataset"), document.get("images_digest"))

    def describe(self, *, whose: bool = True) -> str:
        """One line for people, e.g. "FPR <= 5% on 40 good images of dataset synth_visa" (without `whose`:
        "FPR <= 5% on 40 good images")."""
        if self.rule == "fpr":
            owner = (f" of {self.category}" if self.category else f" of dataset {self.dataset}" if self.dataset
                     else "")
            return f"FPR <= {100 * self.target_fpr:g}% on {self.n_good} good images{owner if whose else ''}"
        if self.rule == "f1":
            return f"F1-optimal on the evaluation set ({self.n_good} good images; not a line calibration)"
        return "threshold set by hand"

    def summary_for(self, category: str) -> str:
        """What a prediction of raw `category` says about its threshold: its own calibration, or whose it is."""
        if self.rule == MANUAL_RULE:
            return "threshold set by hand"
        if self.category == category:
            return f"calibrated on {category}'s own good images: {self.describe(whose=False)}"
        hint = (f"calibrate one with `filo calibrate GOOD_DIR --category {category} --register` (or --out FILE, "
                "then `filo predict --verdict FILE`)")
        if self.category is not None:
            return f"threshold calibrated on category {self.category}, not {category} ({self.describe()}); {hint}"
        whose = f"dataset {self.dataset}" if self.dataset else "a `filo evaluate` verdict"
        return (f"{category} has no calibration of its own: threshold from {whose} ({self.describe(whose=False)}, "
                f"pooled over its categories); {hint}")


@dataclass(frozen=True)
class Verdict:
    """A chosen image threshold and the confusion matrix it gives on the evaluation images."""

    rule: str
    threshold: float
    target_fpr: float | None
    confusion: dict[str, int]
    category: str | None = None
    """The one category it was calibrated for (`filo calibrate`); None: pooled over a dataset."""
    calibrated_on: dict | None = None
    """What `filo calibrate` chose it on: {"folder", "digest", "n_images", "model": {...}, ...}."""

    def is_anomalous(self, scores: np.ndarray) -> np.ndarray:
        """Boolean verdict per score (``score >= threshold``)."""
        return np.asarray(scores) >= self.threshold

    @property
    def calibration(self) -> Calibration:
        """The rule, target FPR and number of normal images (fp + tn) behind the threshold."""
        digest = (self.calibrated_on or {}).get("digest")
        return Calibration(self.rule, self.target_fpr, self.confusion["fp"] + self.confusion["tn"],
                           category=self.category, images_digest=digest)

    def to_dict(self) -> dict:
        """The JSON document of `verdict.json`."""
        document = {"schema_version": SCHEMA_VERSION, "rule": self.rule, "threshold": self.threshold}
        if self.target_fpr is not None:
            document["target_fpr"] = self.target_fpr
        document["n_good"] = self.calibration.n_good
        document.update(decision=DECISION, confusion=dict(self.confusion))
        if self.category is not None:
            document["category"] = self.category
        if self.calibrated_on is not None:
            document["calibrated_on"] = dict(self.calibrated_on)
        return document


def check_rule_applicable(rule: str, labels: np.ndarray, target_fpr: float | None = None) -> None:
    """Raise FiloError unless `rule` can choose a threshold on images with these labels.

    Called before scoring, so a run that could never produce a verdict fails fast.
    """
    if rule not in THRESHOLD_RULES:
        raise FiloError(f"unknown threshold rule {rule!r}; choose one of {THRESHOLD_RULES}")
    labels = np.asarray(labels)
    if not labels.size:
        raise FiloError(
            "the evaluation set has no test images, so no threshold rule can choose a verdict; evaluate on a "
            "manifest whose test split holds images (`filo data index` writes it)"
        )
    if rule == "f1" and not (labels == 1).any():
        raise FiloError(
            "threshold rule 'f1' needs anomalous images, but the evaluation set has none; "
            "use --threshold-rule fpr (a target false-positive rate on normal images)"
        )
    if rule == "fpr":
        if target_fpr is None:
            raise FiloError("threshold rule 'fpr' needs a target false-positive rate (target_fpr, e.g. 0.05)")
        if not (labels == 0).any():
            raise FiloError(
                "threshold rule 'fpr' needs normal images, but the evaluation set has none; "
                "use --threshold-rule f1"
            )


def choose_verdict(labels: np.ndarray, scores: np.ndarray, *, rule: str, target_fpr: float | None = None) -> Verdict:
    """Choose the threshold by `rule` ("f1" or "fpr" with `target_fpr`) and report its confusion matrix."""
    from filo.metrics import confusion_at, f1_optimal_threshold, fpr_threshold  # scipy: not needed by readers

    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    check_rule_applicable(rule, labels, target_fpr)
    if rule == "f1":
        threshold = f1_optimal_threshold(labels, scores)
        target_fpr = None
    else:
        threshold = fpr_threshold(scores[labels == 0], target_fpr)
    return Verdict(rule, float(threshold), target_fpr, confusion_at(labels, scores, threshold))


def write_verdict(path: str | os.PathLike, verdict: Verdict) -> None:
    """Write `verdict.json` atomically."""
    atomic_write_text(path, json.dumps(verdict.to_dict(), indent=2) + "\n")


def read_verdict(path: str | os.PathLike) -> Verdict:
    """Read and validate a `verdict.json`; raise FiloError naming the file and what is wrong."""
    path = Path(path)
    hint = f"re-create it with `filo evaluate` or `filo calibrate` (they write {path.name})"
    document = read_json_document(path, what="verdict file", hint=hint)
    return verdict_from_document(document, f"verdict file {path}", hint)


def verdict_from_document(document: object, where: str, hint: str) -> Verdict:
    """The `Verdict` of a parsed verdict.json document; FiloError naming `where`, what is wrong and `hint`."""
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        raise FiloError(f"{where} is not a schema-version-{SCHEMA_VERSION} verdict; {hint}")
    rule, threshold = document.get("rule"), document.get("threshold")
    confusion = document.get("confusion")
    if rule not in THRESHOLD_RULES or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise FiloError(f"{where} has an invalid rule {rule!r} or threshold {threshold!r}; {hint}")
    if not isinstance(confusion, dict) or sorted(confusion) != sorted(_CONFUSION_KEYS):
        raise FiloError(f"{where} lacks a confusion matrix with keys {_CONFUSION_KEYS}; {hint}")
    target_fpr = document.get("target_fpr")
    if rule == "fpr" and not isinstance(target_fpr, (int, float)):
        raise FiloError(f"{where} uses rule 'fpr' but has no numeric target_fpr; {hint}")
    category, calibrated_on = document.get("category"), document.get("calibrated_on")
    if category is not None:
        try:
            category = check_category_name(category)
        except FiloError as error:
            raise FiloError(f"{where}: {error}; {hint}") from None
    if calibrated_on is not None and not isinstance(calibrated_on, dict):
        raise FiloError(f"{where}: 'calibrated_on' must be an object; {hint}")
    return Verdict(rule, float(threshold), target_fpr, {key: int(confusion[key]) for key in _CONFUSION_KEYS},
                   category=category, calibrated_on=calibrated_on)
