"""Predict images of one category: score, verdict, position, closest descriptions and a heat-map overlay.

Shared by `filo predict` and the MLflow pyfunc model, so both give identical results.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from filo.boxes.source import BoxSource, ImageRef, positions_and_masks
from filo.data.images import load_rgb
from filo.descriptions.artifact import SOURCE_GENERIC
from filo.descriptions.resolve import better_descriptions_hint
from filo.errors import FiloError
from filo.evaluation.verdict import Calibration, Verdict
from filo.kernels import use_reproducible_kernels
from filo.model.checkpoint import load_checkpoint
from filo.prediction.descriptions import DescriptionLookup, descriptions_digest
from filo.prediction.geometry import MapGeometry
from filo.prediction.models import CandidateModel, choose_candidate, default_candidate
from filo.prediction.overlay import (
    RAW_MAP_FORMATS,
    ModelView,
    overlay_path,
    raw_map_path,
    write_overlay,
    write_raw_map,
)

if TYPE_CHECKING:
    from PIL import Image

    from filo.model.filo import FiLo

logger = logging.getLogger(__name__)

ANOMALOUS = "anomalous"
NORMAL = "normal"


@dataclass(frozen=True)
class ImagePrediction:
    """The result for one image (`error` set, and the other results None, when it could not be read)."""

    image_path: str
    category: str
    model: str | None
    """Which checkpoint scored it (a bundle direction name)."""
    score: float | None
    verdict: str | None
    """"anomalous" / "normal" by the model's threshold; None when no threshold is known."""
    threshold: float | None
    position: str | None
    """The 3x3 cell of the best Grounding DINO box; None without a detector (positions averaged)."""
    calibration: dict[str, Any] | None = None
    """How `threshold` was chosen: {"rule", "target_fpr", "n_good"}, "category" (set when it was calibrated on
    one category's good images), "dataset", "images_digest" and "summary" (one sentence naming the calibration,
    or saying that it comes from another dataset); see `filo.evaluation.verdict`."""
    descriptions_source: str | None = None
    """Where the category's fine-grained descriptions came from: "paper", "user", "llm:<model>" or "generic"."""
    top_descriptions: list[dict[str, Any]] = field(default_factory=list)
    """The closest fine-grained descriptions, most similar first: {"description", "similarity"}."""
    boxes: list[dict[str, Any]] = field(default_factory=list)
    """The matched Grounding DINO boxes (only with a detector): {"box": [x0, y0, x1, y1] in the original
    image's pixels, "phrase", "logit"}."""
    anomaly_map_path: str | None = None
    """The heat-map overlay PNG: the original image at its size with the map blended on it and the boxes."""
    raw_map_path: str | None = None
    """The raw map over the original image (.npy or 16-bit PNG) when asked for."""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def verdict_of(score: float, threshold: float | None) -> str | None:
    """"anomalous" when score >= threshold, "normal" below it, None without a threshold."""
    if threshold is None:
        return None
    return ANOMALOUS if score >= threshold else NORMAL


def pixel_box(xyxy: Sequence[float], width: int, height: int) -> list[float]:
    """A box in [0, 1] image coordinates as (x0, y0, x1, y1) pixels of a width x height image, clipped to it."""
    x0, y0, x1, y1 = xyxy
    return [min(max(x0 * width, 0.0), width), min(max(y0 * height, 0.0), height),
            min(max(x1 * width, 0.0), width), min(max(y1 * height, 0.0), height)]


CategoryCalibrations = Callable[[], Mapping[str, Verdict]]
"""Raw category -> its own calibrated verdict (`filo calibrate --register`), asked once per `Predictor.predict`
call so that a calibration registered while an app or server runs is used from its next request."""


class Predictor:
    """Loads checkpoints on demand and predicts image files category by category."""

    def __init__(
        self,
        candidates: Sequence[CandidateModel],
        descriptions: DescriptionLookup,
        *,
        default: CandidateModel | None = None,
        boxes: BoxSource | None = None,
        device: str = "cpu",
        calibrations: CategoryCalibrations | None = None,
        loader: Callable[[Path], FiLo] | None = None,
    ) -> None:
        """`loader` turns a candidate's checkpoint path into a model (default: `load_checkpoint`; an
        exported model's runtime, see `filo.export`, stands in for FiLo)."""
        self.candidates = list(candidates)
        self.calibrations = calibrations
        self.loader = loader or load_checkpoint
        self.default = default or default_candidate(self.candidates)
        self.descriptions = descriptions
        self.boxes = boxes
        self.device = device
        self._models: dict[str, FiLo] = {}
        self._prepared: set[tuple[str, str]] = set()
        self._warned: set[str] = set()
        use_reproducible_kernels()  # the kernels and thread count `filo evaluate` computed with

    def category_key(self, name: str) -> str:
        """The raw category key of a user-typed category name ("metal nut" -> "metal_nut")."""
        trained = sorted(set().union(*(c.trained_categories for c in self.candidates)))
        return self.descriptions.category_key(name, trained)

    def _model_for(self, category: str) -> tuple[CandidateModel, FiLo]:
        """The chosen checkpoint for `category`, loaded once and prepared with its descriptions."""
        candidate = choose_candidate(self.candidates, category, default=self.default)
        if candidate.name not in self._models:
            logger.info("loading model %s from %s", candidate.name, candidate.checkpoint)
            self._models[candidate.name] = self.loader(candidate.checkpoint).to(self.device).eval()
        model = self._models[candidate.name]
        if (candidate.name, category) not in self._prepared:
            found = self.descriptions.find(category)
            if found.source == SOURCE_GENERIC:
                logger.warning(better_descriptions_hint(category))
            model.prepare(category, found.descriptions)
            self._prepared.add((candidate.name, category))
        return candidate, model

    def threshold_for(self, candidate: CandidateModel, category: str) -> tuple[float | None, dict[str, Any] | None]:
        """The verdict threshold of raw `category` and the record of its calibration (with a "summary" sentence).

        The category's own registered calibration wins when it was made with this checkpoint;
        otherwise the checkpoint's threshold (a dataset's, or one the user gave) applies.
        """
        own = (self.calibrations() if self.calibrations is not None else {}).get(category)
        if own is not None:
            direction = (own.calibrated_on or {}).get("model", {}).get("direction")
            if direction in (None, candidate.name):
                self._check_descriptions(own, category)
                return own.threshold, self._calibration_record(own.calibration, category)
            logger.warning("the registered calibration of %s was made with %s, but %s serves it; using %s's "
                           "threshold", category, direction, candidate.name, candidate.name)
        if candidate.calibration is None:
            return candidate.threshold, None
        return candidate.threshold, self._calibration_record(candidate.calibration, category)

    def _check_descriptions(self, own: Verdict, category: str) -> None:
        """Warn once per category when its calibration scored other descriptions than this prediction uses."""
        calibrated = (own.calibrated_on or {}).get("descriptions", {}).get("digest")
        used = descriptions_digest(self.descriptions.find(category))
        if calibrated is None or calibrated == used or category in self._warned:
            return
        self._warned.add(category)
        logger.warning("the calibration of %s scored other descriptions (%s) than this prediction uses; give the "
                       "same --descriptions as `filo calibrate` got, or calibrate again", category,
                       own.calibrated_on["descriptions"].get("source"))

    @staticmethod
    def _calibration_record(calibration: Calibration, category: str) -> dict[str, Any]:
        """`calibration` as a prediction states it: its fields plus the summary sentence for `category`."""
        return {**calibration.as_dict(), "summary": calibration.summary_for(category)}

    def predict(
        self,
        image_paths: Sequence[str | os.PathLike],
        category: str,
        out_dir: str | os.PathLike,
        *,
        batch_size: int = 8,
        progress: bool = True,
        raw_maps: str | None = None,
    ) -> Iterator[ImagePrediction]:
        """Predict images of raw `category` in batches, writing overlays to `out_dir`; yields in input order.

        `raw_maps` ("npy" or "png16") also saves each full-resolution map next to its overlay.
        """
        if batch_size < 1:
            raise FiloError(f"batch size must be at least 1, got {batch_size}")
        if raw_maps is not None and raw_maps not in RAW_MAP_FORMATS:
            raise FiloError(f"raw map format must be one of {RAW_MAP_FORMATS}, got {raw_maps!r}")
        candidate, model = self._model_for(category)
        threshold, calibration = self.threshold_for(candidate, category)
        source = self.descriptions.find(category).source
        view = ModelView.from_preprocess(model.preprocess)
        with tqdm(total=len(image_paths), desc=f"predicting {category}", unit="img", disable=not progress) as bar:
            for start in range(0, len(image_paths), batch_size):
                batch = [str(path) for path in image_paths[start : start + batch_size]]
                yield from self._predict_batch(batch, category, candidate, model, view, Path(out_dir), raw_maps,
                                               (threshold, calibration, source))
                bar.update(len(batch))

    def _predict_batch(
        self,
        paths: list[str],
        category: str,
        candidate: CandidateModel,
        model: FiLo,
        view: ModelView,
        out_dir: Path,
        raw_maps: str | None,
        stated: tuple[float | None, dict[str, Any] | None, str],
    ) -> Iterator[ImagePrediction]:
        """One forward pass over the readable images of `paths`; unreadable ones get an error result.

        `stated` is what every result of the category states: (threshold, calibration record, descriptions source).
        """
        threshold, calibration, source = stated
        photos: dict[int, Image.Image] = {}
        errors: dict[int, str] = {}
        for slot, path in enumerate(paths):
            try:
                photos[slot] = load_rgb(path)
            except FiloError as error:
                logger.warning("skipping %s: %s", path, error)
                errors[slot] = str(error)
        readable = sorted(photos)
        geometry = MapGeometry.of_model(model.config)
        found = None
        if readable:
            images = torch.stack([view.to_tensor(view.geometric(photos[slot])) for slot in readable]).to(self.device)
            if self.boxes is not None:
                found = positions_and_masks(
                    self.boxes,
                    [ImageRef(image_id=paths[slot], path=paths[slot]) for slot in readable],
                    self.descriptions.find(category).descriptions,
                    model.config.image_size,
                )
            prediction = model.predict(
                images,
                category,
                positions=found.positions if found is not None else None,
                keep_masks=found.keep if found is not None else None,
            )
            maps = prediction.anomaly_map.float().cpu().numpy()
        for slot, path in enumerate(paths):
            if slot in errors:
                yield ImagePrediction(path, category, candidate.name, None, None, threshold, None,
                                      calibration=calibration, descriptions_source=source, error=errors[slot])
                continue
            index = readable.index(slot)
            score = float(prediction.score[index])
            photo = photos[slot]
            full_map = geometry.to_original(maps[index], photo.width, photo.height)
            entry = found.entries[index] if found is not None else None
            boxes = [] if entry is None else [
                {"box": pixel_box(xyxy, photo.width, photo.height), "phrase": phrase, "logit": float(logit)}
                for xyxy, phrase, logit in zip(entry.boxes.tolist(), entry.phrases, entry.logits)
            ]
            map_path = write_overlay(overlay_path(out_dir, path), photo, full_map,
                                     boxes=[box["box"] for box in boxes])
            raw_path = write_raw_map(raw_map_path(map_path, raw_maps), full_map, raw_maps) if raw_maps else None
            yield ImagePrediction(
                image_path=path,
                category=category,
                model=candidate.name,
                score=score,
                verdict=verdict_of(score, threshold),
                threshold=threshold,
                position=found.positions[index] if found is not None else None,
                calibration=calibration,
                descriptions_source=source,
                top_descriptions=[
                    {"description": text, "similarity": similarity}
                    for text, similarity in prediction.top_descriptions[index]
                ],
                boxes=boxes,
                anomaly_map_path=str(map_path),
                raw_map_path=str(raw_path) if raw_path is not None else None,
            )
