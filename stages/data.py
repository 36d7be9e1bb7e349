"""`filo data {prepare,download,index,synth}`: get a dataset onto disk, index it to a manifest, or make a synthetic one.

`prepare` and `index` are the pipeline's stages, declared in `filo.data.stage` (`PREPARE`,
`INDEX`: which dataset is `--dataset KEY` of the params' `datasets:` registry, settings in
params sections `data` and `index`); `download` and `synth` parse their arguments here, over
`filo.data.download.download_dataset` and `filo.data.synthetic.generate_dataset` / `pack_archive`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from filo.data.registry import LAYOUTS
from filo.data.stage import INDEX, PREPARE

# Options of `filo data synth` passed on to generate_dataset only when given, so its defaults apply.
_SYNTH_SIZE_OPTIONS = ("image_size", "n_train_good", "n_test_good", "n_test_per_defect")


def run_download(args: argparse.Namespace) -> int:
    """Download, verify and extract a dataset under --root."""
    from filo.data.download import download_dataset

    dataset_dir = download_dataset(args.name, args.root, url=args.url, sha256=args.sha256, archive=args.archive)
    print(f"{args.name} dataset ready at {dataset_dir}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """Generate a synthetic dataset (and optionally pack it into an archive)."""
    from filo.data.synthetic import generate_dataset, pack_archive

    sizes = {name: getattr(args, name) for name in _SYNTH_SIZE_OPTIONS if getattr(args, name) is not None}
    dataset_dir = generate_dataset(
        args.layout, args.out, seed=args.seed, categories=args.categories, overwrite=args.force, **sizes
    )
    print(f"synthetic {args.layout} dataset written to {dataset_dir}")
    if args.pack:
        print(f"packed into {pack_archive(dataset_dir, args.pack)}")
    return 0


def _add_download(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "download",
        help="download, verify and extract MVTec AD or VisA",
        description="Download a dataset archive to ROOT/<archive name> (resumable, SHA-256 verified) and "
        "extract it safely to ROOT/<name>, the folder to pass to `filo data index --root`.",
    )
    from filo.data.sources import SOURCES

    parser.add_argument("name", choices=sorted(SOURCES), help="which dataset")
    parser.add_argument(
        "--root", type=Path, required=True, help="folder for the archive and the extracted dataset"
    )
    parser.add_argument("--url", help="download from this URL instead of the official one (same archive)")
    parser.add_argument("--sha256", help="expected SHA-256 of the archive, if not the official one")
    parser.add_argument(
        "--archive", type=Path,
        help="use this already downloaded archive instead of downloading (verified; hard-linked, never changed)",
    )
    parser.set_defaults(func=run_download)


def _add_synth(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "synth",
        help="generate a synthetic dataset in the MVTec AD or VisA layout",
        description="Generate procedural inspection images with exact defect masks, deterministic for a seed.",
    )
    parser.add_argument("--layout", choices=LAYOUTS, required=True, help="on-disk layout to write")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    parser.add_argument("--categories", nargs="+", help="categories to make (default: the layout's demo set)")
    parser.add_argument("--image-size", type=int, help="image side in pixels (default: the generator's)")
    parser.add_argument("--n-train-good", type=int, help="normal training images per category")
    parser.add_argument("--n-test-good", type=int, help="normal test images per category")
    parser.add_argument("--n-test-per-defect", type=int, help="test images per defect type")
    parser.add_argument("--force", action="store_true", help="replace an existing non-empty --out folder")
    parser.add_argument("--pack", type=Path, help="also pack the dataset into this archive (.tar.xz or .tar)")
    parser.set_defaults(func=run_synth)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `filo data` with its download, index and synth subcommands."""
    parser = subparsers.add_parser("data", help="download, index or synthesize datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    PREPARE.register(commands)
    _add_download(commands)
    INDEX.register(commands)
    _add_synth(commands)
