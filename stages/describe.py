"""`filo describe`: fine-grained defect descriptions for every category of a manifest, or for one category.

Argument parsing only, over `filo.descriptions.stage` (settings: params section `describe`).
The LLM is used only when an LLM model is configured (`--llm-model` or `describe.llm.model`);
its API key is read from the OPENAI_API_KEY environment variable only.
"""

from __future__ import annotations

import argparse

from filo.descriptions.stage import DescribeSettings
from filo.errors import FiloError
from filo.settings import (
    InputPath,
    OutputPath,
    add_params_argument,
    add_settings_arguments,
    settings_from_args,
)


def run(args: argparse.Namespace) -> int:
    """CLI entry: write the artifact for a manifest, or print one category's descriptions."""
    from filo.descriptions.artifact import write_descriptions
    from filo.descriptions.stage import describe_category, describe_manifest

    settings = settings_from_args(args, DescribeSettings)
    if args.category is not None:
        if args.manifest:
            raise FiloError("--category cannot be combined with --manifest; use one or the other")
        key, entry = describe_category(args.category, settings)
        if args.out:
            write_descriptions(args.out, {key: entry})
        print(f"{key} (source: {entry.source})")
        for description in entry.descriptions:
            print(f"  - {description}")
        return 0
    if not (args.manifest and args.out):
        raise FiloError("give --manifest PATH and --out PATH, or --category NAME")
    describe_manifest(args.manifest, args.out, settings)
    return 0


def register(subparsers) -> None:
    """Add the `describe` subcommand."""
    parser = subparsers.add_parser(
        "describe",
        help="fine-grained defect descriptions per category (shipped defaults, user file, LLM + cache)",
        description="Resolve each category's fine-grained defect descriptions. The LLM is used only when "
        "an LLM model is given (--llm-model); its API key is read from the OPENAI_API_KEY environment variable.",
    )
    parser.add_argument("--manifest", type=InputPath, help="manifest Parquet whose categories to describe")
    parser.add_argument("--out", type=OutputPath,
                        help="descriptions JSON artifact to write (of the manifest, or of --category; "
                        "`filo predict --descriptions` reads it)")
    parser.add_argument("--category", help='describe one category, e.g. "gear wheel", and print the result')
    add_params_argument(parser)
    add_settings_arguments(parser.add_argument_group("describe settings (params section `describe`)"),
                           DescribeSettings)
    parser.set_defaults(func=run)
