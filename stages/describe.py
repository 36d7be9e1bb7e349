"""`filo describe`: fine-grained defect descriptions for every category of a manifest, or for one category.

Parameters (names for params.yaml): source_order, user_file, cache_dir, and, to enable the LLM,
model, base_url, template_version, temperature, max_descriptions, max_chars, json_mode,
request_timeout_s, max_attempts, retry_budget_s. The API key is read from OPENAI_API_KEY only.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from filo.descriptions import (
    DEFAULT_SOURCE_ORDER,
    CategoryDescriptions,
    LLMSettings,
    resolve_descriptions,
    write_descriptions,
)
from filo.descriptions.defaults import load_shipped_defaults, load_user_descriptions
from filo.descriptions.llm import DEFAULT_BASE_URL
from filo.descriptions.resolve import DEFAULT_CACHE_DIR
from filo.errors import FiloError
from filo.vocabulary import category_key

logger = logging.getLogger(__name__)


def describe_manifest(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    source_order: Sequence[str] = DEFAULT_SOURCE_ORDER,
    llm: LLMSettings | None = None,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    user_file: str | os.PathLike | None = None,
) -> dict[str, CategoryDescriptions]:
    """Resolve descriptions for every category in `manifest` and write the artifact to `out` (atomically).

    Without `llm` only the user file and the shipped defaults are used.
    """
    from filo.data.manifest import read_manifest

    categories = read_manifest(manifest)["category"].unique().tolist()
    table = resolve_descriptions(
        categories, source_order=source_order, llm=llm, cache_dir=cache_dir, user_file=user_file
    )
    write_descriptions(out, table)
    logger.info("wrote descriptions of %d categories to %s", len(table), out)
    return table


def describe_category(
    name: str,
    *,
    source_order: Sequence[str] = DEFAULT_SOURCE_ORDER,
    llm: LLMSettings | None = None,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    user_file: str | os.PathLike | None = None,
) -> tuple[str, CategoryDescriptions]:
    """Raw key and descriptions of one category given by raw ("metal_nut") or display name ("metal nut")."""
    shipped = list(load_shipped_defaults())
    user_keys = (
        [category_key(user_name, shipped) for user_name in load_user_descriptions(user_file)]
        if user_file
        else []
    )
    key = category_key(name, shipped + user_keys)
    table = resolve_descriptions(
        [key], source_order=source_order, llm=llm, cache_dir=cache_dir, user_file=user_file
    )
    return key, table[key]


def _llm_settings(args: argparse.Namespace) -> LLMSettings | None:
    """LLM settings from the command line; None when no --model was given."""
    if args.model is None:
        return None
    return LLMSettings(
        model=args.model,
        base_url=args.base_url,
        template_version=args.template_version,
        temperature=args.temperature,
        max_descriptions=args.max_descriptions,
        max_chars=args.max_chars,
        json_mode=args.json_mode,
        request_timeout_s=args.request_timeout_s,
        max_attempts=args.max_attempts,
        retry_budget_s=args.retry_budget_s,
    )


def run(args: argparse.Namespace) -> int:
    """CLI entry: write the artifact for a manifest, or print one category's descriptions."""
    options = {
        "source_order": [name.strip() for name in args.sources.split(",")],
        "llm": _llm_settings(args),
        "cache_dir": args.cache_dir,
        "user_file": args.user_file,
    }
    if args.category is not None:
        if args.manifest or args.out:
            raise FiloError("--category cannot be combined with --manifest/--out; use one or the other")
        key, entry = describe_category(args.category, **options)
        print(f"{key} (source: {entry.source})")
        for description in entry.descriptions:
            print(f"  - {description}")
        return 0
    if not (args.manifest and args.out):
        raise FiloError("give --manifest PATH and --out PATH, or --category NAME")
    describe_manifest(args.manifest, args.out, **options)
    return 0


def register(subparsers) -> None:
    """Add the `describe` subcommand."""
    parser = subparsers.add_parser(
        "describe",
        help="fine-grained defect descriptions per category (shipped defaults, user file, LLM + cache)",
        description="Resolve each category's fine-grained defect descriptions. The LLM is used only when "
        "--model is given; its API key is read from the OPENAI_API_KEY environment variable.",
    )
    parser.add_argument("--manifest", type=Path, help="manifest Parquet whose categories to describe")
    parser.add_argument("--out", type=Path, help="descriptions JSON artifact to write")
    parser.add_argument("--category", help='describe one category, e.g. "metal nut", and print the result')
    parser.add_argument(
        "--sources",
        default=",".join(DEFAULT_SOURCE_ORDER),
        help="comma-separated source order (default: %(default)s)",
    )
    parser.add_argument("--user-file", type=Path, help="YAML file with your own descriptions (source 'user')")
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="LLM cache (default: %(default)s)"
    )
    llm = parser.add_argument_group("LLM (OpenAI-compatible chat completions)")
    defaults = argparse.Namespace(**{field.name: field.default for field in dataclasses.fields(LLMSettings)})
    llm.add_argument("--model", help="model name; enables the LLM source")
    llm.add_argument("--base-url", default=DEFAULT_BASE_URL, help="API base URL (default: %(default)s)")
    llm.add_argument("--template-version", default=defaults.template_version, help="prompt template version")
    llm.add_argument("--temperature", type=float, default=defaults.temperature)
    llm.add_argument("--max-descriptions", type=int, default=defaults.max_descriptions)
    llm.add_argument("--max-chars", type=int, default=defaults.max_chars, help="longest description kept")
    llm.add_argument(
        "--no-json-mode",
        dest="json_mode",
        action="store_false",
        help="do not send response_format=json_object (for servers that reject it)",
    )
    llm.add_argument("--request-timeout-s", type=float, default=defaults.request_timeout_s)
    llm.add_argument("--max-attempts", type=int, default=defaults.max_attempts)
    llm.add_argument(
        "--retry-budget-s",
        type=float,
        default=defaults.retry_budget_s,
        help="total time allowed for retries of one category",
    )
    parser.set_defaults(func=run)
