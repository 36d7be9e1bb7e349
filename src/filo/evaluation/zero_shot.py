"""The zero-shot protocol: a model must not be evaluated on categories it was trained on."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from filo.errors import FiloError
from filo.model.config import TrainingProvenance

logger = logging.getLogger(__name__)


def check_zero_shot(
    provenance: TrainingProvenance | None, categories: Iterable[str], *, allow_overlap: bool, model_name: str
) -> list[str]:
    """Refuse (FiloError) when the model was trained on any of `categories`, unless `allow_overlap`.

    `provenance` is the checkpoint config's training record; `model_name` names the checkpoint
    in messages. A checkpoint without one (an untrained `filo model init` file, the authors'
    release) is accepted with a warning. Returns the overlapping categories.
    """
    if provenance is None:
        logger.warning(
            "model %s does not record the categories it was trained on (no training provenance in its "
            "config); the zero-shot protocol cannot be checked",
            model_name,
        )
        return []
    overlap = sorted(set(provenance.trained_categories) & set(categories))
    if overlap and not allow_overlap:
        raise FiloError(
            f"model {model_name} was trained on {overlap}, which the evaluation manifest also contains; "
            "zero-shot evaluation needs unseen categories: evaluate on the other dataset, or pass "
            "--allow-overlap for an in-domain check"
        )
    if overlap:
        logger.warning("--allow-overlap: evaluating on training categories %s (not zero-shot)", overlap)
    return overlap
