"""The checkpoints a prediction can use, and which one serves a category (zero-shot first).

A registered bundle holds one checkpoint per cross-dataset direction (e.g. trained on MVTec
AD, evaluated on VisA, and the reverse). A category is served by a checkpoint that was NOT
trained on it; when several qualify, the default one (the MVTec-trained one in a bundle).
When none qualifies the default is used and a warning says the prediction is not zero-shot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from filo.errors import FiloError
from filo.evaluation.verdict import MANUAL_RULE, Calibration
from filo.model.checkpoint import CHECKPOINT_FORMAT, read_payload
from filo.model.config import FiLoConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateModel:
    """One checkpoint a prediction may use, with what it was trained on and its verdict threshold."""

    name: str
    """How reports name it (a bundle direction such as "synth_mvtec_to_synth_visa", or the file name)."""
    checkpoint: Path
    threshold: float | None
    """Scores at or above it are "anomalous"; None: no verdict."""
    trained_categories: frozenset[str]
    train_dataset: str | None
    calibration: Calibration | None = None
    """How `threshold` was chosen (None exactly when there is no threshold)."""

    def with_threshold(self, threshold: float, calibration: Calibration | None = None) -> CandidateModel:
        """This checkpoint with another threshold (`calibration` None: one the user set by hand)."""
        return dataclasses.replace(self, threshold=threshold, calibration=calibration or Calibration(MANUAL_RULE))

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        *,
        name: str | None = None,
        threshold: float | None = None,
        calibration: Calibration | None = None,
    ) -> CandidateModel:
        """Read what a filo checkpoint records about its training (its config's provenance).

        `threshold` without `calibration` counts as set by hand.
        """
        path = Path(path)
        payload = read_payload(path)
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise FiloError(
                f"{path} is not a filo checkpoint; prediction needs a checkpoint written by `filo train` "
                "or `filo model init`"
            )
        provenance = FiLoConfig.from_dict(payload["config"]).provenance
        return cls(
            name=name or path.stem,
            checkpoint=path,
            threshold=threshold,
            trained_categories=frozenset(provenance.trained_categories if provenance else ()),
            train_dataset=provenance.train_dataset if provenance else None,
            calibration=(calibration or Calibration(MANUAL_RULE)) if threshold is not None else None,
        )


def default_candidate(candidates: Sequence[CandidateModel]) -> CandidateModel:
    """The documented default: the first (by name) trained on an MVTec dataset, else the first by name."""
    if not candidates:
        raise FiloError("no model to predict with; give --model")
    ordered = sorted(candidates, key=lambda candidate: candidate.name)
    mvtec = [c for c in ordered if c.train_dataset and "mvtec" in c.train_dataset.lower()]
    return (mvtec or ordered)[0]


def choose_candidate(
    candidates: Sequence[CandidateModel], category: str, *, default: CandidateModel | None = None
) -> CandidateModel:
    """The checkpoint that serves `category`: one not trained on it (the default if it qualifies)."""
    default = default or default_candidate(candidates)
    unseen = [c for c in candidates if category not in c.trained_categories]
    if not unseen:
        logger.warning(
            "every model was trained on category %s; using %s (this prediction is not zero-shot)",
            category,
            default.name,
        )
        return default
    if default in unseen:
        return default
    return min(unseen, key=lambda candidate: candidate.name)
