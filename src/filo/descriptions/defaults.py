"""Description tables kept in YAML: the defaults shipped inside the package and users' own files.

File format (shipped and user files alike)::

    source: user            # optional; shipped files say 'paper' or 'user', user files may only say 'user'
    categories:
      metal_nut:            # raw folder name or display name ("metal nut")
        - cracks
        - irregular threading
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml

from filo.descriptions.artifact import (
    SOURCE_GENERIC,
    SOURCE_PAPER,
    SOURCE_USER,
    CategoryDescriptions,
    validate_category_descriptions,
)
from filo.errors import FiloError

SHIPPED_DEFAULT_FILES = ("paper.yaml", "demo.yaml")
GENERIC_FILE = "generic.yaml"


def _parse_table(text: str, where: str, allowed_sources: tuple[str, ...]) -> dict[str, CategoryDescriptions]:
    """Parse one YAML description table; raise FiloError naming `where` when it is malformed."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FiloError(f"{where} is not valid YAML ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("categories"), dict):
        raise FiloError(f"{where}: expected a mapping with a 'categories' mapping of name -> list of strings")
    unknown_keys = set(document) - {"source", "categories"}
    if unknown_keys:
        raise FiloError(
            f"{where}: unknown top-level keys {sorted(unknown_keys)}; allowed: source, categories"
        )
    source = document.get("source", SOURCE_USER)
    if source not in allowed_sources:
        raise FiloError(f"{where}: source {source!r} is not allowed here (allowed: {list(allowed_sources)})")
    table = {}
    for name, items in document["categories"].items():
        entry_where = f"{where} category {name!r}"
        if not isinstance(items, list):
            raise FiloError(f"{entry_where}: expected a list of description strings")
        entry = CategoryDescriptions(
            tuple(item.strip() if isinstance(item, str) else item for item in items), source
        )
        validate_category_descriptions(entry, entry_where)
        if len(set(entry.descriptions)) != len(entry.descriptions):
            raise FiloError(f"{entry_where}: the list contains duplicate descriptions; remove them")
        table[str(name)] = entry
    return table


def load_shipped_defaults() -> dict[str, CategoryDescriptions]:
    """The descriptions shipped with filo: the paper's 27 MVTec AD/VisA categories and the demo categories."""
    package_dir = resources.files("filo.descriptions") / "defaults"
    table: dict[str, CategoryDescriptions] = {}
    for file_name in SHIPPED_DEFAULT_FILES:
        where = f"shipped defaults {file_name}"
        part = _parse_table(
            (package_dir / file_name).read_text(encoding="utf-8"), where, (SOURCE_PAPER, SOURCE_USER)
        )
        overlap = set(table) & set(part)
        if overlap:
            raise FiloError(f"{where} repeats categories {sorted(overlap)}; the installation is inconsistent")
        table.update(part)
    return table


def load_generic_descriptions() -> CategoryDescriptions:
    """filo's category-independent defect states (source 'generic'), for categories nobody described."""
    where = f"shipped generic descriptions {GENERIC_FILE}"
    document = yaml.safe_load((resources.files("filo.descriptions") / "defaults" / GENERIC_FILE).read_text("utf-8"))
    if not isinstance(document, dict) or document.get("source") != SOURCE_GENERIC:
        raise FiloError(f"{where} must say 'source: generic'; the installation is inconsistent")
    entry = CategoryDescriptions(tuple(document.get("descriptions") or ()), SOURCE_GENERIC)
    validate_category_descriptions(entry, where)
    return entry


def load_user_descriptions(path: str | os.PathLike) -> dict[str, CategoryDescriptions]:
    """A user's own descriptions file (YAML or JSON in the format above); every entry has source 'user'."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FiloError(
            f"user descriptions file {path} does not exist; fix the path or drop the option"
        ) from None
    return _parse_table(text, f"user descriptions file {path}", (SOURCE_USER,))
