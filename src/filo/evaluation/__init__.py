"""Evaluation of a FiLo model on a dataset's test split.

Modules: `scoring` (per-image scores and maps), `aggregate` (metrics per category and their
mean), `verdict` (image threshold + confusion matrix, `verdict.json`), `report` (the metrics.json
summary, the detailed metrics, tables), `curves`/`plots`/`gallery` (figures), `outputs` (the output folder), `mlflow_log`,
`zero_shot` (protocol check) and `evaluate` (the stage function behind `filo evaluate`).

Public (`__all__`): the stage's settings and result, the verdict (the stage function is
`filo.evaluation.evaluate.evaluate`: its module owns the name). They are imported on first use, so that
importing one module of the package loads no other.
"""

from __future__ import annotations

from filo import lazy_attributes

__all__ = [
    "EvaluationResult",
    "EvaluationSettings",
    "Verdict",
    "choose_verdict",
    "read_verdict",
]

_LAZY = {
    "EvaluationSettings": "filo.evaluation.settings",
    "EvaluationResult": "filo.evaluation.evaluate",
    "Verdict": "filo.evaluation.verdict",
    "choose_verdict": "filo.evaluation.verdict",
    "read_verdict": "filo.evaluation.verdict",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
