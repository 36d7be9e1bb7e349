"""Running an export on CPU, with onnxruntime or OpenVINO, behind the interface `filo.prediction.Predictor` drives.

`OnnxFiLo` stands in for an eval-mode `FiLo` in the predictor (``config``, ``preprocess``,
``prepare``, ``predict``), so `filo predict --runtime onnx|openvino` writes the same JSON lines,
overlays and raw maps as the torch runtime. One class runs the export's ONNX graph with either
session backend (`SESSIONS`): onnxruntime's CPU provider, or OpenVINO's CPU plugin, which reads
the ``.onnx`` file directly (the optional ``openvino`` extra).

Images are conditioned one by one (eager filo's ``per_image`` conditioning; for a model
configured with ``authors`` conditioning this equals eager filo at batch size 1).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export.artifact import ExportedModel, read_export
from filo.export.graph import OUTPUT_NAMES
from filo.model.clip_backbone import eval_transform
from filo.model.filo import Prediction
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.models import CandidateModel
from filo.prediction.predictor import Predictor
from filo.vocabulary import POSITIONS, position_index

if TYPE_CHECKING:
    from filo.boxes.source import BoxSource

Session = Callable[[Mapping[str, np.ndarray]], Sequence[np.ndarray]]
"""A compiled export: input name -> array in, the outputs in `OUTPUT_NAMES` order out."""


def onnxruntime_session(graph: Path, threads: int | None) -> Session:
    """The ONNX graph on onnxruntime's CPU provider, on `threads` intra-op threads (None: its default)."""
    import onnxruntime  # heavy: only this runtime needs it

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(list(OUTPUT_NAMES), dict(feeds))


def openvino_session(graph: Path, threads: int | None) -> Session:
    """The ONNX graph compiled by OpenVINO for its CPU plugin, tuned for latency, in float32.

    Float32 is asked for explicitly: on CPUs with bfloat16 support OpenVINO's default
    inference precision is bf16, whose maps differ from torch eager far beyond 1e-4.
    OpenVINO's usage telemetry (sent on import unless its user opted out) is not loaded: an
    exported model runs on a line, offline.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # None: its import fails, openvino uses its stub
    require_package("openvino")
    import openvino
    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = openvino.Core().compile_model(str(graph), "CPU", config)
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in OUTPUT_NAMES]

    def run(feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results = request.infer(dict(feeds))
        return [np.array(results[output]) for output in outputs]  # a copy: the request reuses its buffers

    return run


SESSIONS: dict[str, Callable[[Path, int | None], Session]] = {"onnx": onnxruntime_session,
                                                               "openvino": openvino_session}
"""How each runtime of `filo.export.runtimes.EXPORT_RUNTIMES` compiles an export's graph (a test keeps the two equal)."""


def require_package(runtime: str) -> None:
    """A FiloError saying how to install it when the package behind `runtime` is missing ("openvino" is an extra)."""
    if runtime == "openvino" and find_spec("openvino") is None:
        raise FiloError("--runtime openvino needs the openvino package; install it with "
                        "`pip install 'filo[openvino]'`, or run the export with --runtime onnx")


def session_backend(runtime: str) -> Callable[[Path, int | None], Session]:
    """The `SESSIONS` entry of `runtime`; an unknown name is refused with the ones there are, a missing optional
    package with how to install it."""
    if runtime not in SESSIONS:
        raise FiloError(f"an export runs with one of the runtimes {tuple(SESSIONS)}, got {runtime!r}")
    require_package(runtime)
    return SESSIONS[runtime]


class OnnxFiLo:
    """An export run by a session backend, with the part of `FiLo`'s interface that prediction uses.

    `runtime` names the backend in `SESSIONS` ("onnx": onnxruntime, "openvino"); `threads` is
    its number of intra-op threads (None: the backend's default).
    """

    def __init__(self, exported: ExportedModel, *, runtime: str = "onnx", threads: int | None = None) -> None:
        backend = session_backend(runtime)
        self.exported = exported
        self.runtime = runtime
        self.config = exported.config
        self.preprocess = eval_transform(self.config.image_size, exported.manifest["preprocess"],
                                         self.config.resize_mode)
        self.session = backend(exported.graph_path, threads)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, runtime: str = "onnx", threads: int | None = None) -> OnnxFiLo:
        """Open (and verify) an export folder."""
        return cls(read_export(folder), runtime=runtime, threads=threads)

    def to(self, device: str | torch.device) -> OnnxFiLo:
        """The export runtimes run on CPU only; any other device is refused."""
        if torch.device(device).type != "cpu":
            raise FiloError(f"the {self.runtime} runtime runs on CPU; got device {device!r} (pass --device cpu)")
        return self

    def eval(self) -> OnnxFiLo:
        return self

    def prepare(self, category: str, descriptions: Sequence[str]) -> None:
        """Check that `category` and `descriptions` are the ones baked into the export."""
        self._check_category(category)
        if tuple(descriptions) != self.exported.descriptions.descriptions:
            raise FiloError(
                f"export {self.exported.folder} was made with descriptions {list(self.exported.descriptions.descriptions)} "
                f"for {category!r}, not {list(descriptions)}; export again with the descriptions you want "
                "(`filo export ... --descriptions FILE`)"
            )

    def _check_category(self, category: str) -> None:
        if category != self.exported.category:
            raise FiloError(
                f"export {self.exported.folder} predicts category {self.exported.category!r} only, not {category!r}; "
                f"export one for it with `filo export --category {category}`"
            )

    def predict(
        self,
        images: torch.Tensor,
        category: str,
        *,
        positions: Sequence[str | None] | None = None,
        keep_masks: torch.Tensor | None = None,
    ) -> Prediction:
        """Score, box-suppressed map and top-k descriptions, as `FiLo.predict` returns them."""
        self._check_category(category)
        batch = len(images)
        positions = list(positions) if positions is not None else [None] * batch
        if len(positions) != batch:
            raise ValueError(f"got {len(positions)} positions for {batch} images; pass one per image or None")
        size = self.config.image_size
        keep = keep_masks.cpu().numpy() if keep_masks is not None else np.ones((batch, size, size), dtype=bool)
        pixels = images.float().cpu().numpy()
        scores = np.empty(batch, dtype=np.float32)
        maps = np.empty((batch, size, size), dtype=np.float32)
        similarities = np.empty((batch, self.exported.manifest["n_states"]), dtype=np.float32)
        # One run per position count: a detected position averages 1 position's prompts, none all 9.
        for known in (True, False):
            slots = [i for i, position in enumerate(positions) if (position is not None) == known]
            if not slots:
                continue
            indices = [[position_index(positions[i])] if known else list(range(len(POSITIONS))) for i in slots]
            score, anomaly_map, state_similarities = self.session({
                "images": pixels[slots], "positions": np.asarray(indices, dtype=np.int64), "keep": keep[slots],
            })
            scores[slots], maps[slots], similarities[slots] = score, anomaly_map, state_similarities
        return Prediction(
            score=torch.from_numpy(scores),
            anomaly_map=torch.from_numpy(maps),
            top_descriptions=self._top_descriptions(similarities),
        )

    def _top_descriptions(self, similarities: np.ndarray) -> list[list[tuple[str, float]]]:
        """Per image, the `top_k_descriptions` descriptions with the highest similarity, most similar first."""
        descriptions = self.exported.descriptions.descriptions
        if not descriptions:
            return [[] for _ in similarities]
        k = min(self.config.top_k_descriptions, len(descriptions))
        values, indices = torch.from_numpy(similarities[:, : len(descriptions)]).topk(k, dim=1)
        return [
            [(descriptions[i], float(v)) for v, i in zip(row_values.tolist(), row_indices.tolist())]
            for row_values, row_indices in zip(values, indices)
        ]


def export_predictor(
    folder: str | os.PathLike,
    *,
    threshold: float | None = None,
    calibration: Calibration | None = None,
    boxes: BoxSource | None = None,
    device: str = "cpu",
    runtime: str = "onnx",
) -> Predictor:
    """A `Predictor` that runs export `folder` with `runtime` (its category, descriptions and threshold).

    `runtime` is a backend of `SESSIONS`; `threshold` (with `calibration`, None: set by hand)
    overrides the exported threshold.
    """
    session_backend(runtime)  # an unknown runtime fails here, not at the first prediction
    exported = read_export(folder)
    candidate = CandidateModel(
        name=exported.name,
        checkpoint=exported.folder,
        threshold=exported.threshold,
        trained_categories=frozenset(exported.manifest["source"].get("trained_categories", ())),
        train_dataset=exported.manifest["source"].get("train_dataset"),
        calibration=exported.calibration,
    )
    if threshold is not None:
        candidate = candidate.with_threshold(threshold, calibration)
    lookup = DescriptionLookup([{exported.category: exported.descriptions}])
    return Predictor([candidate], lookup, boxes=boxes, device=device,
                     loader=lambda path: OnnxFiLo(exported, runtime=runtime))
