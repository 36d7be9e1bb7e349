"""Exported models: one category's FiLo as a self-contained graph, and its CPU runtimes (onnxruntime, OpenVINO).

Modules: `graph` (the traceable forward and what is baked into it), `artifact` (the export
folder: graph file, manifest, hashes; written atomically, verified when read), `runtime`
(onnxruntime or OpenVINO behind the predictor's model interface).
"""

from filo.export.artifact import FORMATS, ExportedModel, is_export, read_export, write_export
from filo.export.runtime import RUNTIMES, SESSIONS, OnnxFiLo, export_predictor

__all__ = [
    "FORMATS",
    "RUNTIMES",
    "SESSIONS",
    "ExportedModel",
    "OnnxFiLo",
    "export_predictor",
    "is_export",
    "read_export",
    "write_export",
]
