"""Which fine-grained descriptions a prediction uses for a category.

In order: the descriptions artifacts given (the registered bundle's, then the user's
`--descriptions` JSON, later ones winning), then `resolve_descriptions` over a user YAML
file (when given), the descriptions shipped with filo and, for any other category, filo's
generic defect states (source 'generic'), so that every category can be predicted offline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from filo.descriptions import CategoryDescriptions, load_descriptions, resolve_descriptions
from filo.descriptions.defaults import load_shipped_defaults
from filo.integrity import content_digest
from filo.vocabulary import category_key

FALLBACK_SOURCE_ORDER = ("user", "defaults", "generic")
"""Prediction configures no LLM, so the LLM cache cannot be keyed; `filo describe --out` makes an artifact instead."""
USER_FILE_SUFFIXES = (".yaml", ".yml")


def descriptions_digest(entry: CategoryDescriptions) -> str:
    """Digest of the ordered descriptions a category is scored with (a calibration records it; predict compares)."""
    return content_digest(list(entry.descriptions))


class DescriptionLookup:
    """Finds each category's descriptions in the artifacts given, a user file and the shipped defaults."""

    def __init__(
        self,
        artifacts: Sequence[Mapping[str, CategoryDescriptions]] = (),
        *,
        user_file: str | os.PathLike | None = None,
    ) -> None:
        self.table: dict[str, CategoryDescriptions] = {}
        for artifact in artifacts:
            self.table.update(artifact)
        self.user_file = user_file

    @classmethod
    def from_file(
        cls, path: str | os.PathLike | None, artifacts: Sequence[Mapping[str, CategoryDescriptions]] = ()
    ) -> DescriptionLookup:
        """`artifacts` plus the user's `--descriptions` file: a JSON artifact or a YAML user file."""
        if path is None:
            return cls(artifacts)
        if str(path).lower().endswith(USER_FILE_SUFFIXES):
            return cls(artifacts, user_file=path)
        return cls([*artifacts, load_descriptions(path)])

    def category_key(self, name: str, known: Sequence[str] = ()) -> str:
        """The raw category key of a user-typed name, matched against every category this lookup knows."""
        return category_key(name, [*self.table, *known, *load_shipped_defaults()])

    def find(self, category: str) -> CategoryDescriptions:
        """The descriptions of raw `category` (filo's generic ones, source 'generic', when nobody described it)."""
        if category not in self.table:
            found = resolve_descriptions([category], source_order=FALLBACK_SOURCE_ORDER, user_file=self.user_file)
            self.table[category] = found[category]
        return self.table[category]
