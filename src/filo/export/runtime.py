"""Running an export with onnxruntime, behind the interface `filo.prediction.Predictor` drives.

`OnnxFiLo` stands in for an eval-mode `FiLo` in the predictor (``config``, ``preprocess``,
``prepare``, ``predict``), so `filo predict --runtime onnx` writes the same JSON lines,
overlays and raw maps as the torch runtime. It runs on CPU with onnxruntime's CPU provider.

Images are conditioned one by one (eager filo's ``per_image`` conditioning; for a model
configured with ``authors`` conditioning this equals eager filo at batch size 1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from filo.errors import FiloError
from filo.evaluation.verdict import Calibration
from filo.export.artifact import ExportedModel, read_export
from filo.model.clip_backbone import eval_transform
from filo.model.filo import Prediction
from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.models import CandidateModel
from filo.prediction.predictor import Predictor
from filo.vocabulary import POSITIONS, position_index

if TYPE_CHECKING:
    from filo.boxes.source import BoxSource

RUNTIMES = ("torch", "onnx")
"""What `filo predict --runtime` accepts: eager torch on a checkpoint, or onnxruntime on an export."""


class OnnxFiLo:
    """An export run by onnxruntime, with the part of `FiLo`'s interface that prediction uses."""

    def __init__(self, exported: ExportedModel, *, threads: int | None = None) -> None:
        import onnxruntime  # heavy: only the onnx runtime needs it

        self.exported = exported
        self.config = exported.config
        self.preprocess = eval_transform(self.config.image_size, exported.manifest["preprocess"],
                                         self.config.resize_mode)
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(exported.graph_path), options,
                                                    providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, folder: str | os.PathLike, *, threads: int | None = None) -> OnnxFiLo:
        """Open (and verify) an export folder."""
        return cls(read_export(folder), threads=threads)

    def to(self, device: str | torch.device) -> OnnxFiLo:
        """The onnx runtime runs on CPU only; any other device is refused."""
        if torch.device(device).type != "cpu":
            raise FiloError(f"the onnx runtime runs on CPU; got device {device!r} (pass --device cpu)")
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
            score, anomaly_map, state_similarities = self.session.run(None, {
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
) -> Predictor:
    """A `Predictor` that runs export `folder` with onnxruntime (its category, descriptions and threshold).

    `threshold` (with `calibration`, None: set by hand) overrides the exported threshold.
    """
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
                     loader=lambda path: OnnxFiLo(exported))
