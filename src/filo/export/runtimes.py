"""The runtimes a model runs on, by the name ``--runtime`` takes (`filo predict`, `filo app`): their one list.

A module of its own, with no heavy import, so that a settings class can type a field with it.
"""

from __future__ import annotations

import typing
from typing import Literal

Runtime = Literal["torch", "onnx", "openvino"]
"""torch: eager on a checkpoint or registered model; onnx: onnxruntime (CPU) on a `filo export` folder;
openvino: OpenVINO (CPU) on the same folder (the optional ``openvino`` extra)."""
RUNTIMES: tuple[str, ...] = typing.get_args(Runtime)
EXPORT_RUNTIMES: tuple[str, ...] = RUNTIMES[1:]
"""The runtimes that run an export (each a session backend of `filo.export.runtime.SESSIONS`)."""
