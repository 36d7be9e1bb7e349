"""The MLflow model registry side of filo: model bundles, the pyfunc model, lineage and promotion.

Modules: `bundle` (what a registered version holds), `pyfunc` (the `mlflow.pyfunc` model),
`lineage` (git commit and input hashes), `promotion` (the champion/challenger gate),
`registration` (register + promote in one call), `settings` (its params section), `predict` (`filo predict`),
`calibration` (thresholds from good images scored as served: a bundle direction's at registration, one
category's from a folder of its good images with `filo calibrate`, stored as a version tag), `loading`
(a model reference -> a Predictor, with the version's category calibrations).

Public (`__all__`): registration and its settings, opening a registered model, prediction and calibration.
They are imported on first use, so that importing one module of the package loads no other.
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
