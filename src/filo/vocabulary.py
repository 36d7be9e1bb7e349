"""The names every filo package shares: the 3x3 anomaly positions and how category names are written.

This module depends on nothing in filo but the exception type (`filo.errors`), so that the data,
descriptions, boxes and model packages can all use it without importing one another:

* :data:`POSITIONS`: the nine cells of the 3x3 grid, in row-major order. Box extraction
  names the cell of the best box with one of them; the model's abnormal prompts hold one
  row per (state, position) in this order.
* :func:`check_category_name`: the one rule a category name must follow wherever it enters
  filo (command line, app, REST, description files, calibration): letters, digits, spaces,
  ``_``, ``-`` and ``.``, at most :data:`MAX_CATEGORY_LENGTH` characters.
* :func:`category_key`: a user-typed category name -> the raw dataset folder name that
  artifacts key on ("Metal Nut" -> "metal_nut").
* :func:`prompt_category_name`: a raw category key -> the object name written into prompts
  and LLM requests ("metal_nut" -> "metal nut", "pcb1" -> "pcb").
"""

from __future__ import annotations

from collections.abc import Iterable

from filo.errors import FiloError

POSITIONS: tuple[str, ...] = (
    "top left",
    "top",
    "top right",
    "left",
    "center",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
DEFAULT_POSITION = "center"
"""The position of an image whose detector found no box (the authors' fallback)."""


def position_index(position: str) -> int:
    """Index of a position name in :data:`POSITIONS`."""
    try:
        return POSITIONS.index(position)
    except ValueError:
        raise ValueError(f"unknown position {position!r}; use one of {', '.join(POSITIONS)}") from None


_AUTHORS_NAME_MAP: dict[str, str] = {
    "pcb1": "pcb",
    "pcb2": "pcb",
    "pcb3": "pcb",
    "pcb4": "pcb",
    "macaroni1": "macaroni",
    "macaroni2": "macaroni",
}


def prompt_category_name(raw: str) -> str:
    """The object name written into prompts for a raw category folder name.

    ``_`` becomes a space ("metal_nut" -> "metal nut"), and exactly the VisA families the
    authors merge lose their number (pcb1..pcb4 -> "pcb", macaroni1/2 -> "macaroni").
    Other trailing digits are kept on purpose: a general digit strip would change prompts
    (and thus scores) for categories the authors never renamed.
    """
    return _AUTHORS_NAME_MAP.get(raw, raw.replace("_", " "))


MAX_CATEGORY_LENGTH = 64
"""The longest category name filo accepts (it becomes part of file names, prompts and MLflow tag keys)."""
_CATEGORY_PUNCTUATION = frozenset(" _-.")


def check_category_name(name: str) -> str:
    """`name` stripped of surrounding spaces; FiloError unless it is a usable category name.

    A category name is non-empty, at most `MAX_CATEGORY_LENGTH` characters, made of letters,
    digits (any script), spaces, ``_``, ``-`` and ``.``, and does not start with ``.``. So it
    can never name another folder (no ``/``, ``\\`` or ``..``), nor break a prompt or a tag key.
    """
    if not isinstance(name, str):
        raise FiloError(f"category name {name!r} is not text; pass a name such as 'metal nut' or 'pcb1'")
    stripped = name.strip()
    if not stripped:
        raise FiloError(f"category name {name!r} is empty; pass a name such as 'metal nut' or 'pcb1'")
    shown = stripped if len(stripped) <= 80 else f"{stripped[:40]}...{stripped[-20:]}"
    if len(stripped) > MAX_CATEGORY_LENGTH:
        raise FiloError(
            f"category name {shown!r} is {len(stripped)} characters long; use at most {MAX_CATEGORY_LENGTH}"
        )
    bad = sorted({char for char in stripped if not (char.isalnum() or char in _CATEGORY_PUNCTUATION)})
    if bad or stripped.startswith("."):
        reason = f"contains {''.join(bad)!r}" if bad else "starts with '.'"
        raise FiloError(
            f"category name {shown!r} {reason}: use letters, digits, spaces, '_', '-' and '.' only "
            "(e.g. 'gear wheel'), not a path"
        )
    return stripped


def _canonical(name: str) -> str:
    """Case- and separator-insensitive form of a category name ("Metal Nut" -> "metal_nut")."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def category_key(name: str, known: Iterable[str] = ()) -> str:
    """Map a user-typed category name ("metal nut", "Metal_Nut", "metal_nut") to its artifact key.

    `name` must pass `check_category_name`. If it matches one of the `known` raw keys exactly or up to case, spaces,
    underscores and hyphens, that key is returned; otherwise the canonical raw form
    of `name` itself (lowercase, words joined by `_`), so new categories work too.
    """
    name = check_category_name(name)
    canonical = _canonical(name)
    known = list(known)
    if name in known:
        return name
    matches = sorted({key for key in known if _canonical(key) == canonical})
    if len(matches) > 1:
        raise FiloError(
            f"category name {name!r} matches several categories {matches}; use the exact raw name"
        )
    return matches[0] if matches else canonical
