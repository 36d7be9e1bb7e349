"""Choosing each category's descriptions from the configured sources, in a configurable order.

Sources: `user` (the user's file, source 'user'), `cache` (earlier LLM answers on disk),
`llm` (a live request, stored in the cache), `defaults` (shipped with filo: the paper's
lists and the demo categories') and `generic` (filo's category-independent defect states,
which describe any category, marked source 'generic'). `cache` and `llm` take part only when
an LLM is configured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

from filo.descriptions.artifact import CategoryDescriptions, llm_source
from filo.descriptions.cache import DescriptionCache, content_key
from filo.descriptions.defaults import (
    load_generic_descriptions,
    load_shipped_defaults,
    load_user_descriptions,
)
from filo.descriptions.llm import DescriptionGenerator, LLMSettings, cache_fields
from filo.descriptions.template import load_template
from filo.errors import FiloError
from filo.vocabulary import category_key, prompt_category_name

logger = logging.getLogger(__name__)

DescriptionSource = Literal["user", "cache", "llm", "defaults", "generic"]
"""Where a category's descriptions may come from (see the module docstring)."""
SOURCES: tuple[str, ...] = get_args(DescriptionSource)
DEFAULT_SOURCE_ORDER: tuple[DescriptionSource, ...] = ("user", "cache", "llm", "defaults", "generic")
DEFAULT_CACHE_DIR = Path("prompts/cache")


def validate_source_order(source_order: Sequence[str]) -> tuple[str, ...]:
    """`source_order` as a tuple; FiloError if it is empty, repeats a source or names an unknown one."""
    order = tuple(source_order)
    unknown = [name for name in order if name not in SOURCES]
    if not order or unknown or len(set(order)) != len(order):
        raise FiloError(
            f"source order {list(order)} is invalid: give each of {list(SOURCES)} at most once, e.g. "
            f"{','.join(DEFAULT_SOURCE_ORDER)}"
        )
    return order


def _user_table(
    user_file: str | os.PathLike | None, categories: list[str]
) -> dict[str, CategoryDescriptions]:
    """The user's descriptions keyed by the categories they name (display names are mapped to raw keys)."""
    if user_file is None:
        return {}
    table: dict[str, CategoryDescriptions] = {}
    for name, entry in load_user_descriptions(user_file).items():
        key = category_key(name, categories)
        if key in table:
            raise FiloError(
                f"user descriptions file {user_file} names category {key!r} twice; keep one entry"
            )
        table[key] = entry
    return table


class _SourceLookup:
    """Looks one category up in one named source."""

    def __init__(
        self,
        categories: list[str],
        llm: LLMSettings | None,
        cache_dir: Path,
        user_file: str | os.PathLike | None,
        reuse_cached: bool,
    ) -> None:
        self.reuse_cached = reuse_cached  # take an entry a concurrent process stored while we waited
        self.user = _user_table(user_file, categories)
        self.defaults = load_shipped_defaults()
        self.generic = load_generic_descriptions()
        self.cache = DescriptionCache(cache_dir)
        self.llm = llm
        self.template = load_template(llm.template_version) if llm else None
        self.generator = DescriptionGenerator(llm, self.template) if llm else None

    def _key(self, category: str) -> tuple[str, dict[str, object]]:
        """The cache key of `category` under the LLM settings, and the fields it hashes."""
        fields = cache_fields(self.llm, self.template, category)
        return content_key(fields), fields

    def find(self, source: str, category: str) -> CategoryDescriptions | None:
        """The descriptions `source` has for `category`, or None when it has none (or is not configured)."""
        if source == "user":
            return self.user.get(category)
        if source == "defaults":
            return self.defaults.get(category)
        if source == "generic":
            return self.generic
        if self.llm is None:
            return None
        key, fields = self._key(category)
        if source == "cache":
            descriptions = self.cache.get(key)
        else:
            descriptions = self._generate(key, fields, category)
        return CategoryDescriptions(descriptions, llm_source(self.llm.model), key) if descriptions else None


    def _generate(self, key: str, fields: dict[str, object], category: str) -> tuple[str, ...]:
        """Ask the LLM under the key's lock and cache the answer; with `reuse_cached`, a concurrent
        writer's fresh entry is taken instead of a second call."""
        with self.cache.lock(key):
            cached = self.cache.get(key) if self.reuse_cached else None
            if cached is not None:
                logger.info("category %s: another process described it while we waited; using its answer", category)
                return cached
            descriptions = self.generator.generate(
                category, lambda attempt, text: self.cache.save_rejected(key, category, attempt, text)
            )
            self.cache.put(key, fields, descriptions)
        return descriptions


def better_descriptions_hint(category: str) -> str:
    """How to replace the generic descriptions of raw `category` with ones written for it (one sentence)."""
    name = prompt_category_name(category)
    return (
        f"category {category!r} uses filo's generic defect descriptions (no user file, cached LLM answer or shipped "
        "list describes it); descriptions written for the product usually score better: list its defects in a YAML "
        f"file (categories: {{{category}: [\"first defect\", ...]}}) and pass --descriptions FILE.yaml, or ask an "
        f"LLM with `filo describe --category \"{name}\" --llm-model MODEL --llm-base-url URL --out D.json` "
        "(key in OPENAI_API_KEY) and pass --descriptions D.json"
    )


def resolve_descriptions(
    categories: Iterable[str],
    *,
    source_order: Sequence[str] = DEFAULT_SOURCE_ORDER,
    llm: LLMSettings | None = None,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    user_file: str | os.PathLike | None = None,
) -> dict[str, CategoryDescriptions]:
    """Descriptions for every raw category, each from the first source in `source_order` that has it.

    Raises FiloError naming every category no source could describe, and how to provide descriptions.
    """
    from tqdm import tqdm  # kept lazy: imported at CLI start-up

    order = validate_source_order(source_order)
    categories = sorted(set(categories))
    reuse_cached = "cache" in order and "llm" in order and order.index("cache") < order.index("llm")
    lookup = _SourceLookup(categories, llm, Path(cache_dir), user_file, reuse_cached)
    resolved: dict[str, CategoryDescriptions] = {}
    for category in tqdm(
        categories, desc="describing categories", unit="category", disable=len(categories) < 2
    ):
        for source in order:
            found = lookup.find(source, category)
            if found is not None:
                logger.info("category %s: %d descriptions from %s", category, len(found.descriptions), source)
                resolved[category] = found
                break
    missing = [category for category in categories if category not in resolved]
    if missing:
        raise FiloError(
            f"no descriptions for categories {missing} from sources {list(order)}: configure an LLM "
            "(describe.llm.model and .base_url or --llm-model and --llm-base-url, and the OPENAI_API_KEY environment "
            "variable) or give their descriptions "
            "in a user file (--user-file)"
        )
    return resolved
