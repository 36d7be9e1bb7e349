"""Exported models: one category's FiLo as a self-contained graph, and an onnxruntime (CPU) runtime for it.

Modules: `graph` (the traceable forward and what is baked into it), `artifact` (the export
folder: graph file, manifest, hashes; written atomically, verified when read), `runtime`
(onnxruntime behind the predictor's model interface).
"""

from filo.export.artifact import FORMATS, ExportedModel, is_export, read_export, write_export
from filo.export.runtime import RUNTIMES, OnnxFiLo, export_predictor

__all__ = [
    "FORMATS",
    "RUNTIMES",
    "ExportedModel",
    "OnnxFiLo",
    "export_predictor",
    "is_export",
    "read_export",
    "write_export",
]
