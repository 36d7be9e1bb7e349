"""The MLflow model registry side of filo: model bundles, the pyfunc model, lineage and promotion.

Modules, from the bottom up (each imports only modules listed before it):
`promotion` (the champion/challenger gate), `settings` (its params section), `bundle` (what a
registered version holds), `lineage` (git commit and input hashes), `versions` (how a version is
addressed and stored: URI schemes, artifact names, version lookup, download),
`category_calibrations` (the categories' own calibrations stored as version tags, read at every
prediction), `loading` (a model reference -> a Predictor, with the version's category
calibrations), `calibration` (thresholds from good images scored as served: a bundle direction's
at registration, one category's from a folder of its good images with `filo calibrate`),
`exporting` (`filo export`, and the exports a version carries), `pyfunc` (the `mlflow.pyfunc`
model) and `serving_model` (its models-from-code entry point), `registration` (register +
promote in one call), `predict` (`filo predict`), `stage` (the register stage).
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = [
    "RegisterSettings",
    "RegistrationResult",
    "calibrate_category",
    "open_predictor",
    "predict_images",
    "register_bundle",
]

_LAZY = {
    "RegisterSettings": "filo.registry.settings",
    "RegistrationResult": "filo.registry.registration",
    "register_bundle": "filo.registry.registration",
    "open_predictor": "filo.registry.loading",
    "predict_images": "filo.registry.predict",
    "calibrate_category": "filo.registry.calibration",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
