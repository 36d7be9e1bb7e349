"""filo: zero-shot industrial anomaly detection with FiLo (fine-grained descriptions + localization).

`filo.create_model(preset, **overrides)` builds an eval-ready FiLo from a named preset
(filo/presets/, e.g. "paper" or "tiny"); see `filo.model.factory.create_model`.
It is loaded on first use, so that `import filo` loads neither torch nor the model code,
and so that the import closure DVC tracks as a stage's code (filo.pipelines.imports, which
reads import statements) does not put src/filo/model under every stage: filo's own modules
import `filo.model.factory` themselves (tests/model/test_factory.py checks it).
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from filo.kernels import pin_cpu_code_paths

__version__ = "0.1.0"

__all__ = ["__version__", "create_model"]

pin_cpu_code_paths()  # before torch or MKL compute anything (they read the variables then): filo.kernels


def lazy_attributes(module: str, sources: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for `module` that imports each name of `sources` from its module on first use.

    Packages list their public names in ``__all__`` and load them this way, so importing a
    package (or one of its modules) loads nothing else of it.
    """
    def __getattr__(name: str) -> Any:
        if name in sources:
            return getattr(importlib.import_module(sources[name]), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


__getattr__ = lazy_attributes(__name__, {"create_model": "filo.model.factory"})
