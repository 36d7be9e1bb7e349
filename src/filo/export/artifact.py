"""An exported model on disk: the graph file(s) of one category plus a manifest, written atomically, read verified.

Layout of an export folder::

    manifest.json      what the graph is for and where it came from (below)
    model.onnx         the graph of :class:`filo.export.graph.CategoryGraph` (ONNX, opset 18)
    model.onnx.data    its weights (beside the graph: ONNX files hold at most 2 GiB)

``manifest.json`` holds the category, its descriptions (and their source), the verdict
threshold (and how it was chosen), the `FiLoConfig` that built the source model, the image
preprocessing, the source (model reference, registered version, bundle direction, checkpoint
SHA-256, filo version), the SHA-256 of every graph file, and ``content_sha256``: the SHA-256
of the canonical JSON of everything else in the manifest. Opening an export checks both, so an
edited threshold, a swapped or damaged graph file, or a manifest from another export is
refused with the file that failed.

The folder is written under a temporary name and renamed into place: a crash leaves no
half-written export, and a previous export at the same path stays intact until the new one is
complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from filo import __version__
from filo.descriptions import CategoryDescriptions
from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export.graph import INPUT_NAMES, OUTPUT_NAMES, CategoryGraph
from filo.io import atomic_path, read_json_document, sha256_file
from filo.model.config import FiLoConfig
from filo.model.filo import FiLo

EXPORT_FORMAT = "filo-export"
SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
FORMATS = ("onnx",)
"""Graph formats `filo export` writes."""
GRAPH_FILE = {"onnx": "model.onnx"}
ONNX_OPSET = 18
_REEXPORT_HINT = "export it again with `filo export --model REF --category NAME --out DIR`"


@dataclass(frozen=True)
class ExportedModel:
    """A verified export folder and what its manifest says."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def category(self) -> str:
        return self.manifest["category"]

    @property
    def format(self) -> str:
        return self.manifest["runtime_format"]

    @property
    def graph_path(self) -> Path:
        return self.folder / GRAPH_FILE[self.format]

    @property
    def descriptions(self) -> CategoryDescriptions:
        return CategoryDescriptions(tuple(self.manifest["descriptions"]), self.manifest["descriptions_source"])

    @property
    def threshold(self) -> float | None:
        return self.manifest["threshold"]

    @property
    def calibration(self) -> Calibration | None:
        document = self.manifest["calibration"]
        return Calibration.from_dict(document) if document is not None else None

    @property
    def config(self) -> FiLoConfig:
        return FiLoConfig.from_dict(self.manifest["config"])

    @property
    def name(self) -> str:
        """How predictions name the model: the source direction (or checkpoint) it was exported from."""
        return self.manifest["source"]["direction"]


def content_hash(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `manifest` without its ``content_sha256`` entry."""
    body = {key: value for key, value in manifest.items() if key != "content_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def is_export(folder: str | os.PathLike) -> bool:
    """Whether `folder` looks like an export (holds a manifest); `read_export` verifies it."""
    return (Path(folder) / MANIFEST_FILE).is_file()


def write_export(
    model: FiLo,
    category: str,
    descriptions: CategoryDescriptions,
    out: str | os.PathLike,
    *,
    threshold: float | None,
    calibration: Calibration | None,
    source: Mapping[str, Any],
    format: str = "onnx",
) -> ExportedModel:
    """Export eval-mode `model` for raw `category` with `descriptions` into folder `out` (atomically).

    `threshold`/`calibration` are the verdict the export carries; `source` records where the
    model came from (``model``, ``direction``, ``checkpoint_sha256``, ``registered_version``).
    """
    if format not in FORMATS:
        raise FiloError(f"export format must be one of {FORMATS}, got {format!r}")
    model = model.eval()
    model.prepare(category, descriptions.descriptions)
    graph = CategoryGraph(model, category).eval()
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _export_onnx(graph, tmp / GRAPH_FILE[format])
        files = {path.name: sha256_file(path) for path in sorted(tmp.iterdir())}
        manifest: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "runtime_format": format,
            "category": category,
            "descriptions": list(descriptions.descriptions),
            "descriptions_source": descriptions.source,
            "n_states": graph.n_states,
            "threshold": threshold,
            "calibration": calibration.as_dict() if calibration is not None else None,
            "config": model.config.to_dict(),
            "preprocess": {key: model.clip.visual.preprocess_cfg[key] for key in ("mean", "std", "interpolation")},
            "source": {**source, "filo_version": __version__},
            "inputs": list(INPUT_NAMES),
            "outputs": list(OUTPUT_NAMES),
            "files": files,
        }
        manifest["content_sha256"] = content_hash(manifest)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return read_export(out)


def _export_onnx(graph: CategoryGraph, path: Path) -> None:
    """Trace `graph` with torch's ONNX exporter, batch and position count dynamic."""
    size = graph.config.image_size
    example = (
        torch.zeros(2, 3, size, size),
        torch.arange(9).repeat(2, 1),  # all positions; a detected one is P = 1 (both dimensions stay dynamic)
        torch.ones(2, size, size, dtype=torch.bool),
    )
    batch, count = torch.export.Dim("batch"), torch.export.Dim("positions", max=9)
    shapes = {"images": {0: batch}, "positions": {0: batch, 1: count}, "keep": {0: batch}}
    with torch.no_grad(), warnings.catch_warnings():
        # The three inputs share the batch dimension; torch warns that it names it only once.
        warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")
        program = torch.onnx.export(graph, example, dynamo=True, opset_version=ONNX_OPSET,
                                    input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                                    dynamic_shapes=shapes, verbose=False)
    # Weights beside the graph file: ONNX protobufs hold at most 2 GiB, and ViT-L-14-336 needs more.
    program.save(str(path), external_data=True)


def read_export(folder: str | os.PathLike) -> ExportedModel:
    """Open export `folder`, checking the manifest, every graph file's SHA-256 and the content hash."""
    folder = Path(folder)
    manifest = read_json_document(folder / MANIFEST_FILE, what="export manifest",
                                  hint=f"{folder} is not a complete filo export; {_REEXPORT_HINT}")
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise FiloError(f"{folder / MANIFEST_FILE} is not a filo export manifest; {_REEXPORT_HINT}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise FiloError(f"export {folder} has schema version {manifest.get('schema_version')!r}; this filo reads "
                        f"{SCHEMA_VERSION}; {_REEXPORT_HINT}")
    if manifest.get("content_sha256") != content_hash(manifest):
        raise FiloError(f"export manifest {folder / MANIFEST_FILE} was changed after export (its content hash does "
                        f"not match); {_REEXPORT_HINT}")
    if manifest["runtime_format"] not in FORMATS or GRAPH_FILE[manifest["runtime_format"]] not in manifest["files"]:
        raise FiloError(f"export {folder} has no graph of a known format ({FORMATS}); {_REEXPORT_HINT}")
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise FiloError(f"export {folder} is missing {name}; {_REEXPORT_HINT}")
        if sha256_file(path) != expected:
            raise FiloError(f"export file {path} does not match its manifest (SHA-256 differs: damaged, or from "
                            f"another export); {_REEXPORT_HINT}")
    return ExportedModel(folder, manifest)
