"""Input checks shared by the metric functions: binary labels and finite scores."""

from __future__ import annotations

import numpy as np

from filo.errors import FiloError


def as_binary(values: np.ndarray, name: str) -> np.ndarray:
    """Return `values` as a boolean array; raise FiloError unless every value is 0/1 or bool."""
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise FiloError(f"{name} must hold 0/1 labels, got dtype {array.dtype}; convert it to bool or 0/1.")
    is_binary = (array == 0) | (array == 1)
    if not is_binary.all():
        bad = array[~is_binary].flat[0]
        raise FiloError(f"{name} must hold only 0 (normal) and 1 (anomalous), found {bad!r}; binarise it first.")
    return array.astype(bool)


def as_scores(values: np.ndarray, name: str) -> np.ndarray:
    """Return `values` as a floating array (integers become float64); raise FiloError on NaN/inf."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise FiloError(f"{name} must hold real numbers, got dtype {array.dtype}.")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise FiloError(f"{name} contains NaN or infinite scores; fix the model output before evaluating.")
    return array
