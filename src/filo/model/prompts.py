"""Prompt texts of the FiLo text side, built exactly as the authors' code builds them.

Every prompt starts with ``n_ctx`` placeholder words ``"X"`` whose token embeddings the
prompt learners later replace by learned context vectors:

* normal: ``"X X ... X {state}."`` for the seven normal states;
* abnormal: ``"X X ... X {state} at {position}."`` for every abnormal state (the
  category's fine-grained descriptions ``"abnormal {c} with {description}"`` first, then
  the five generic states) and each of the nine positions, ordered state-major and
  position-minor, so that row ``state_index * 9 + position_index`` holds one pair.

Artifacts key on raw category folder names; only the prompt text uses the name returned by
:func:`filo.vocabulary.prompt_category_name`.
"""

from __future__ import annotations

from collections.abc import Sequence

from filo.vocabulary import POSITIONS, position_index, prompt_category_name

NORMAL_STATE_TEMPLATES: tuple[str, ...] = (
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
)
"""Normal states; ``{}`` is the prompt category name."""

GENERIC_ABNORMAL_STATE_TEMPLATES: tuple[str, ...] = (
    "damaged {}",
    "broken {}",
    "{} with flaw",
    "{} with defect",
    "{} with damage",
)
"""Abnormal states shared by every category (they follow the fine-grained ones)."""

CONTEXT_PLACEHOLDER = "X"
"""The word standing in for each learned context vector (one CLIP token)."""

def normal_states(category: str) -> list[str]:
    """The seven normal state phrases for a raw category name, in the authors' order."""
    name = prompt_category_name(category)
    return [template.format(name) for template in NORMAL_STATE_TEMPLATES]


def abnormal_states(category: str, descriptions: Sequence[str]) -> list[str]:
    """Abnormal state phrases: one per fine-grained description, then the five generic ones."""
    name = prompt_category_name(category)
    fine_grained = [f"abnormal {name} with {description}" for description in descriptions]
    return fine_grained + [template.format(name) for template in GENERIC_ABNORMAL_STATE_TEMPLATES]


def context_prefix(n_ctx: int) -> str:
    """``n_ctx`` placeholder words separated by spaces ("X X ... X")."""
    if n_ctx < 1:
        raise ValueError(f"n_ctx must be at least 1, got {n_ctx}")
    return " ".join([CONTEXT_PLACEHOLDER] * n_ctx)


def normal_prompt_texts(category: str, n_ctx: int) -> list[str]:
    """Normal prompts ``"X ... X {state}."``, one per normal state."""
    prefix = context_prefix(n_ctx)
    return [f"{prefix} {state}." for state in normal_states(category)]


def abnormal_prompt_texts(category: str, descriptions: Sequence[str], n_ctx: int) -> list[str]:
    """Abnormal prompts ``"X ... X {state} at {position}."``, state-major, position-minor."""
    prefix = context_prefix(n_ctx)
    return [
        f"{prefix} {state} at {position}."
        for state in abnormal_states(category, descriptions)
        for position in POSITIONS
    ]


def abnormal_prompt_row(state_index: int, position: str) -> int:
    """Row of the abnormal prompt for (state, position) in :func:`abnormal_prompt_texts`."""
    return state_index * len(POSITIONS) + position_index(position)
