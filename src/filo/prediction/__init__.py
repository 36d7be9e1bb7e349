"""Prediction on image files: shared by `filo predict` and the registered MLflow pyfunc model.

Modules: `inputs` (which files), `models` (which checkpoint serves a category), `descriptions`
(which descriptions a category uses), `overlay` (heat-map PNGs), `predictor` (the batch loop and per-image
results; optional live Grounding DINO boxes come from `filo.boxes.source.DetectorBoxes`).
"""

from filo.prediction.descriptions import DescriptionLookup
from filo.prediction.inputs import collect_images
from filo.prediction.models import CandidateModel, choose_candidate, default_candidate
from filo.prediction.predictor import ImagePrediction, Predictor, verdict_of

__all__ = [
    "CandidateModel",
    "DescriptionLookup",
    "ImagePrediction",
    "Predictor",
    "choose_candidate",
    "collect_images",
    "default_candidate",
    "verdict_of",
]
