"""Category names: mapping what users type to the raw dataset folder names artifacts key on."""

from __future__ import annotations

from collections.abc import Iterable

from filo.errors import FiloError


def _canonical(name: str) -> str:
    """Case- and separator-insensitive form of a category name ("Metal Nut" -> "metal_nut")."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def category_key(name: str, known: Iterable[str] = ()) -> str:
    """Map a user-typed category name ("metal nut", "Metal_Nut", "metal_nut") to its artifact key.

    If `name` matches one of the `known` raw keys exactly or up to case, spaces,
    underscores and hyphens, that key is returned; otherwise the canonical raw form
    of `name` itself (lowercase, words joined by `_`), so new categories work too.
    """
    canonical = _canonical(name)
    if not canonical:
        raise FiloError(f"category name {name!r} is empty; pass a name such as 'metal nut' or 'pcb1'")
    known = list(known)
    if name in known:
        return name
    matches = sorted({key for key in known if _canonical(key) == canonical})
    if len(matches) > 1:
        raise FiloError(
            f"category name {name!r} matches several categories {matches}; use the exact raw name"
        )
    return matches[0] if matches else canonical
