"""The zero-shot protocol: a model must not be evaluated on categories it was trained on."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from filo.errors import FiloError

logger = logging.getLogger(__name__)

TRAINED_CATEGORIES_KEY = "trained_categories"
"""Key of `FiLoConfig.extra` where training records the raw categories it trained on."""


def check_zero_shot(
    extra: Mapping[str, Any], categories: Iterable[str], *, allow_overlap: bool, model_name: str
) -> list[str]:
    """Refuse (FiloError) when the model was trained on any of `categories`, unless `allow_overlap`.

    `extra` is the checkpoint config's `extra`; `model_name` names the checkpoint in messages.
    A checkpoint that does not record its training categories (an untrained `filo model init`
    file, the authors' release) is accepted with a warning. Returns the overlapping categories.
    """
    if TRAINED_CATEGORIES_KEY not in extra:
        logger.warning(
            "model %s does not record the categories it was trained on (config extra[%r]); "
            "the zero-shot protocol cannot be checked",
            model_name,
            TRAINED_CATEGORIES_KEY,
        )
        return []
    trained = extra[TRAINED_CATEGORIES_KEY]
    if isinstance(trained, str) or not isinstance(trained, Iterable):
        raise FiloError(
            f"model {model_name}: config extra[{TRAINED_CATEGORIES_KEY!r}] must be a list of category "
            f"names, found {trained!r}; re-create the checkpoint with the training stage"
        )
    overlap = sorted(set(map(str, trained)) & set(categories))
    if overlap and not allow_overlap:
        raise FiloError(
            f"model {model_name} was trained on {overlap}, which the evaluation manifest also contains; "
            "zero-shot evaluation needs unseen categories: evaluate on the other dataset, or pass "
            "--allow-overlap for an in-domain check"
        )
    if overlap:
        logger.warning("--allow-overlap: evaluating on training categories %s (not zero-shot)", overlap)
    return overlap
