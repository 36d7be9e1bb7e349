"""Exported models: one category's FiLo as a self-contained graph, and its CPU runtimes (onnxruntime, OpenVINO).

Modules: `graph` (the traceable forward and what is baked into it), `artifact` (the export
folder: graph file, manifest, hashes; written atomically, verified when read), `runtime`
(onnxruntime or OpenVINO behind the predictor's model interface).
"""

from filo import lazy_attributes
from filo.export.runtimes import RUNTIMES

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

# Loaded on first use: reading the runtime names (a settings class does) loads neither torch nor the graph code.
__getattr__ = lazy_attributes(__name__, {
    **dict.fromkeys(("FORMATS", "ExportedModel", "is_export", "read_export", "write_export"), "filo.export.artifact"),
    **dict.fromkeys(("SESSIONS", "OnnxFiLo", "export_predictor"), "filo.export.runtime"),
})
