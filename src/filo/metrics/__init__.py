"""Evaluation metrics: exact image/pixel AUROC, AP, F1-max, AUPRO, and verdict thresholds.

Entry points: ``compute_image_metrics(labels, scores)`` and
``compute_pixel_metrics(masks, maps, *, pro_fpr_limit=0.3, bins=None)``; verdicts with
``f1_optimal_threshold``, ``fpr_threshold`` and ``confusion_at`` (rule ``score >= threshold``).
"""

from filo.metrics.image import compute_image_metrics
from filo.metrics.pixel import compute_pixel_metrics
from filo.metrics.results import MetricValues, UndefinedMetricWarning
from filo.metrics.threshold import confusion_at, f1_optimal_threshold, fpr_threshold

__all__ = [
    "MetricValues",
    "UndefinedMetricWarning",
    "compute_image_metrics",
    "compute_pixel_metrics",
    "confusion_at",
    "f1_optimal_threshold",
    "fpr_threshold",
]
