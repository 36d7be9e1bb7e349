"""Exact counts of scores below and at fixed thresholds, fed in chunks in any order, without sorting them.

Every float32/float64 score maps to an integer key with the same order (its bits, negative
numbers mirrored, -0.0 the same key as +0.0), and keys map to buckets of ``2**shift``
consecutive keys spanning the thresholds, at most ``max_buckets`` of them (plus one bucket
for everything below the lowest threshold and one for everything above the highest). A
score whose bucket holds no threshold lies above every threshold of the lower buckets and
below all the others; so does, exactly, one whose bucket is a single key (``shift == 0``):
then it equals the threshold there or none. Counting those scores is one ``np.bincount``
per chunk, O(scores), whatever their order. Only scores in a wider bucket that also holds
a threshold are compared one by one (sorted, then binary searched), so with enough buckets
for the thresholds' key span (the anomalous pixels of benchmarks/metrics.py's VisA-sized
float32 set span about 1.2e7 keys) nothing is sorted at all. Counts are integers, so adding a chunk and later
subtracting one (``weight=-1``) is exact: that is how all pixels can be counted and the
anomalous ones removed, without masking the normal ones out of every map.
"""

from __future__ import annotations

import numpy as np

from filo.errors import FiloError

__all__ = ["DEFAULT_MAX_BUCKETS", "ThresholdTally", "order_keys", "round_down_to"]

DEFAULT_MAX_BUCKETS = 1 << 24
_KEY_DTYPES = {np.dtype(np.float32): np.dtype(np.int32), np.dtype(np.float64): np.dtype(np.int64)}


def order_keys(scores: np.ndarray, *, nonnegative: bool = False) -> np.ndarray:
    """Integer keys (int32 for float32, int64 for float64) ordered like the non-NaN `scores`.

    Non-negative floats keep their bits; negative ones become minus their magnitude bits,
    so -0.0 and +0.0 share key 0 and larger magnitudes sort lower. ``nonnegative=True``
    promises no score is below zero (-0.0 allowed) and saves three passes over them.
    """
    key_dtype = _KEY_DTYPES.get(scores.dtype)
    if key_dtype is None:
        raise FiloError(f"scores must be float32 or float64 to be tallied, got {scores.dtype}.")
    bits = scores.view(key_dtype)
    keys = bits & np.iinfo(key_dtype).max  # drops the sign: -0.0 becomes +0.0
    if not nonnegative:
        sign = bits >> (8 * key_dtype.itemsize - 1)  # 0 or -1
        keys ^= sign
        keys -= sign  # (x ^ -1) - (-1) == -x: conditional negation without a branch
    return keys


def round_down_to(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The largest `dtype` number at or below each of `values` (finite, within dtype's range).

    A `dtype` score ``s`` satisfies ``s <= v`` exactly when ``s <= round_down_to(v)``, so
    counts at float64 thresholds can be read off a tally of float32 thresholds.
    """
    rounded = np.asarray(values).astype(dtype)
    too_high = rounded > values
    rounded[too_high] = np.nextafter(rounded[too_high], dtype.type(-np.inf))
    return rounded


class ThresholdTally:
    """How many scores lie below, and at or below, each of fixed thresholds, over chunks of scores.

    `thresholds` are sorted, distinct, finite float32 or float64 values; every chunk given to
    ``add`` must have the same dtype and no NaN (``add_keys`` takes their ``order_keys``).
    ``max_buckets`` bounds the bucket table (8 bytes a bucket, twice while a chunk is counted).
    """

    def __init__(self, thresholds: np.ndarray, *, max_buckets: int = DEFAULT_MAX_BUCKETS) -> None:
        self.thresholds = np.asarray(thresholds)
        if self.thresholds.ndim != 1 or (len(self.thresholds) > 1 and not np.all(np.diff(self.thresholds) > 0)):
            raise FiloError("tally thresholds must be a 1-D array of sorted, distinct values.")
        if max_buckets < 2:
            raise FiloError(f"max_buckets must be at least 2, got {max_buckets}.")
        self.total = 0
        self._key_dtype = _KEY_DTYPES.get(self.thresholds.dtype)
        if self._key_dtype is None:
            raise FiloError(f"tally thresholds must be float32 or float64, got {self.thresholds.dtype}.")
        if len(self.thresholds) == 0:
            return
        self._threshold_keys = order_keys(self.thresholds)
        keys = self._threshold_keys.astype(np.int64)
        low, high = int(keys[0]), int(keys[-1])
        self._shift = 0
        while (high >> self._shift) - (low >> self._shift) + 1 > max_buckets:
            self._shift += 1
        # Buckets are aligned to multiples of 2**shift: 0 below, 1..n in range, n + 1 above.
        self._offset = (low >> self._shift) - 1
        n_buckets = (high >> self._shift) - self._offset + 2
        self._clip = ((low >> self._shift) - 1) << self._shift, ((high >> self._shift) + 1) << self._shift
        self._threshold_buckets = (keys >> self._shift) - self._offset
        self._per_bucket = np.zeros(n_buckets, dtype=np.int64)
        if self._shift > 0:  # a wide bucket holding a threshold cannot place its scores alone
            self._ambiguous = np.zeros(n_buckets, dtype=bool)
            self._ambiguous[self._threshold_buckets] = True
            self._searched_left = np.zeros(len(self.thresholds) + 1, dtype=np.int64)
            self._searched_equal = np.zeros(len(self.thresholds) + 1, dtype=np.int64)

    def add(self, scores: np.ndarray, weight: int = 1) -> None:
        """Count a chunk of scores (any order, any shape); ``weight=-1`` removes a chunk counted before."""
        scores = np.asarray(scores)
        if scores.dtype != self.thresholds.dtype:
            raise FiloError(f"scores of dtype {scores.dtype} cannot be tallied against "
                            f"{self.thresholds.dtype} thresholds; cast them first.")
        self.add_keys(order_keys(scores.ravel()), weight)

    def add_keys(self, keys: np.ndarray, weight: int = 1) -> None:
        """Count scores given by their ``order_keys`` (one key computation can feed several tallies)."""
        if keys.dtype != self._key_dtype:
            raise FiloError(f"keys of dtype {keys.dtype} do not match {self.thresholds.dtype} thresholds "
                            f"(expected {self._key_dtype}); make them with order_keys.")
        self.total += weight * keys.size
        if len(self.thresholds) == 0 or keys.size == 0:
            return
        # Clipped straight into a new intp array (keys stay as they are; bincount takes intp as is).
        buckets = np.clip(keys, *self._clip, out=np.empty(keys.shape, dtype=np.intp), dtype=np.intp)
        if self._shift:
            buckets >>= self._shift
        buckets -= self._offset
        _accumulate(self._per_bucket, np.bincount(buckets, minlength=len(self._per_bucket)), weight)
        if self._shift > 0:
            searched = self._ambiguous[buckets]
            if searched.any():
                self._search(keys[searched], weight)

    def _search(self, keys: np.ndarray, weight: int) -> None:
        """Place keys of ambiguous buckets by binary search (sorted first: far fewer cache misses)."""
        keys = np.sort(keys)
        left = np.searchsorted(self._threshold_keys, keys, side="left")
        equal = np.searchsorted(self._threshold_keys, keys, side="right") > left
        size = len(self._searched_left)
        _accumulate(self._searched_left, np.bincount(left, minlength=size), weight)
        _accumulate(self._searched_equal, np.bincount(left[equal], minlength=size), weight)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(below, at_or_below): int64 counts of scores ``< thresholds[k]`` and ``<= thresholds[k]``."""
        if len(self.thresholds) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        placed = self._per_bucket
        if self._shift > 0:
            placed = np.where(self._ambiguous, 0, placed)
        # A placed score is <= thresholds[k] exactly when its bucket is at most k's bucket.
        at_or_below = np.cumsum(placed)[self._threshold_buckets]
        if self._shift == 0:
            equal = placed[self._threshold_buckets]
        else:
            at_or_below += np.cumsum(self._searched_left)[:-1]
            equal = self._searched_equal[:-1]
        return at_or_below - equal, at_or_below


def _accumulate(total: np.ndarray, counted: np.ndarray, weight: int) -> None:
    """``total += weight * counted`` in place, without a weighted temporary when weight is 1."""
    if weight != 1:
        counted *= weight
    total += counted
