"""filo: zero-shot industrial anomaly detection with FiLo (fine-grained descriptions + localization)."""

__version__ = "0.1.0"
