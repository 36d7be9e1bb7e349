"""The describe stage: fine-grained defect descriptions for every category of a manifest (params section `describe`).

`DESCRIBE` declares the stage (`filo.stagespec`): its command, DAG stages and run records.
The LLM is used only when an LLM model is configured (`--llm-model` or `describe.llm.model`);
its API key is read from the OPENAI_API_KEY environment variable only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from filo.descriptions.artifact import CategoryDescriptions, write_descriptions
from filo.descriptions.llm import LLMSettings
from filo.descriptions.resolve import (
    DEFAULT_CACHE_DIR,
    DEFAULT_SOURCE_ORDER,
    DescriptionSource,
    resolve_descriptions,
    validate_source_order,
)
from filo.errors import FiloError
from filo.stagespec import StageSpec, option, path_in, path_out

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DescribeSettings:
    """Where descriptions come from (params section `describe`); the LLM's API key is read from OPENAI_API_KEY only."""

    SECTION: ClassVar[str] = "describe"

    sources: tuple[DescriptionSource, ...] = DEFAULT_SOURCE_ORDER
    """Source order: each category takes its descriptions from the first of user, cache, llm, defaults, generic that
    has them (generic describes every category, with filo's category-independent defect states)."""
    user_file: Path | None = None
    """YAML file with your own descriptions ({categories: {name: [description, ...]}}), source 'user'."""
    cache_dir: Path = DEFAULT_CACHE_DIR
    """Content-addressed cache of LLM answers."""
    llm: LLMSettings | None = None
    """An OpenAI-compatible LLM (its `model` enables the llm and cache sources); none: user file and defaults only."""

    def __post_init__(self) -> None:
        validate_source_order(self.sources)


def describe_manifest(
    manifest: str | os.PathLike, out: str | os.PathLike, settings: DescribeSettings = DescribeSettings()
) -> dict[str, CategoryDescriptions]:
    """Resolve descriptions for every category in `manifest` and write the artifact to `out` (atomically)."""
    from filo.data.manifest import read_manifest

    categories = read_manifest(manifest)["category"].unique().tolist()
    table = resolve_descriptions(categories, source_order=settings.sources, llm=settings.llm,
                                 cache_dir=settings.cache_dir, user_file=settings.user_file)
    write_descriptions(out, table)
    logger.info("wrote descriptions of %d categories to %s", len(table), out)
    return table


def describe_category(name: str, settings: DescribeSettings = DescribeSettings()) -> tuple[str, CategoryDescriptions]:
    """Raw key and descriptions of one category given by raw ("metal_nut") or display name ("metal nut")."""
    from filo.descriptions.defaults import load_shipped_defaults, load_user_descriptions
    from filo.vocabulary import category_key

    shipped = list(load_shipped_defaults())
    user_keys = ([category_key(user_name, shipped) for user_name in load_user_descriptions(settings.user_file)]
                 if settings.user_file else [])
    key = category_key(name, shipped + user_keys)
    table = resolve_descriptions([key], source_order=settings.sources, llm=settings.llm,
                                 cache_dir=settings.cache_dir, user_file=settings.user_file)
    return key, table[key]


def describe(*, manifest: Path | None, out: Path | None, category: str | None, settings: DescribeSettings) -> None:
    """Write the descriptions artifact of `manifest` to `out`, or print (and with `out`, write) one `category`'s
    descriptions (`filo describe`)."""
    if category is not None:
        if manifest is not None:
            raise FiloError("--category cannot be combined with --manifest; use one or the other")
        key, entry = describe_category(category, settings)
        if out is not None:
            write_descriptions(out, {key: entry})
        print(f"{key} (source: {entry.source})")
        for description in entry.descriptions:
            print(f"  - {description}")
        return
    if manifest is None or out is None:
        raise FiloError("give --manifest PATH and --out PATH, or --category NAME")
    describe_manifest(manifest, out, settings)


DESCRIBE = StageSpec(
    ("describe",), describe, DescribeSettings,
    (path_in("manifest", "manifest Parquet whose categories to describe", dataset=True),
     path_out("out", "descriptions JSON artifact to write (of the manifest, or of --category; "
              "`filo predict --descriptions` reads it)"),
     option("category", 'describe one category, e.g. "gear wheel", and print the result')),
    help="fine-grained defect descriptions per category (shipped defaults, user file, LLM + cache)",
    description="Resolve each category's fine-grained defect descriptions. The LLM is used only when "
    "an LLM model is given (--llm-model); its API key is read from the OPENAI_API_KEY environment variable.",
)
"""`filo describe`: one dataset's descriptions artifact."""
