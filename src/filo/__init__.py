"""filo: zero-shot industrial anomaly detection with FiLo (fine-grained descriptions + localization)."""

from filo.kernels import pin_cpu_code_paths

__version__ = "0.1.0"

pin_cpu_code_paths()  # before torch or MKL compute anything (they read the variables then): filo.kernels
