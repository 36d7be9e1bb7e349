"""The MLflow model registry side of filo: model bundles, the pyfunc model, lineage and promotion.

Modules: `bundle` (what a registered version holds), `pyfunc` (the `mlflow.pyfunc` model),
`lineage` (git commit and input hashes), `promotion` (the champion/challenger gate),
`registration` (register + promote in one call), `settings` (its params section), `predict` (`filo predict`),
`calibration` (thresholds from good images scored as served: a bundle direction's at registration, one
category's from a folder of its good images with `filo calibrate`, stored as a version tag), `loading`
(a model reference -> a Predictor, with the version's category calibrations).
"""
