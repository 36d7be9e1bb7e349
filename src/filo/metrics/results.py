"""The container metric functions return, and how undefined metrics are reported."""

from __future__ import annotations

import math
import warnings


class UndefinedMetricWarning(UserWarning):
    """Warned when a metric is NaN because the data cannot define it (e.g. no anomalies)."""


class MetricValues(dict):
    """A plain ``dict[str, float]`` of metric values, plus why any NaN value is NaN.

    It serialises like a dict (``json.dumps`` works); ``undefined`` maps the key of every
    NaN value to a one-line reason, so reports can say *why* a number is missing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.undefined: dict[str, str] = {}

    def set(self, key: str, value: float) -> None:
        """Store a defined value."""
        self[key] = float(value)

    def set_undefined(self, key: str, reason: str) -> None:
        """Store NaN for `key`, remember `reason` and warn with it."""
        self[key] = math.nan
        self.undefined[key] = reason
        warnings.warn(f"{key} is undefined (NaN): {reason}", UndefinedMetricWarning, stacklevel=3)
