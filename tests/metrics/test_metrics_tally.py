"""ThresholdTally counts exactly like brute-force comparisons, whatever the buckets, chunks and ties."""

from __future__ import annotations

import numpy as np
import pytest

from filo.errors import FiloError
from filo.metrics.tally import ThresholdTally, order_keys, round_down_to


def _tricky_scores(rng: np.random.Generator, dtype: type, size: int) -> np.ndarray:
    """Scores with heavy ties, both zeros, negatives, tiny and huge magnitudes."""
    pieces = [
        np.round(rng.normal(size=size), 2),  # many ties
        rng.normal(size=size) * 10.0 ** rng.integers(-30, 30, size),  # keys spread over many exponents
        np.array([0.0, -0.0, 1e-40, -1e-40, 3e38, -3e38]),
    ]
    return rng.permutation(np.concatenate(pieces)).astype(dtype)


def _brute_force(thresholds: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts from float comparisons (one threshold at a time: 2-D would not fit in memory)."""
    below = np.array([np.count_nonzero(scores < t) for t in thresholds], dtype=np.int64)
    at_or_below = np.array([np.count_nonzero(scores <= t) for t in thresholds], dtype=np.int64)
    return below, at_or_below


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_buckets", [2, 7, 1024, 1 << 18])
@pytest.mark.parametrize("seed", range(3))
def test_counts_equal_brute_force_in_any_chunking(dtype: type, max_buckets: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = _tricky_scores(rng, dtype, 3000)
    thresholds = np.unique(np.concatenate([rng.choice(scores, 300), np.array([0.0, 1.5], dtype=dtype)]))
    tally = ThresholdTally(thresholds, max_buckets=max_buckets)
    for chunk in np.array_split(scores, [1, 2, 700, 701, 2500]):
        tally.add(chunk)
    below, at_or_below = tally.counts()
    expected_below, expected_at_or_below = _brute_force(thresholds, scores)
    np.testing.assert_array_equal(below, expected_below)
    np.testing.assert_array_equal(at_or_below, expected_at_or_below)
    assert tally.total == len(scores)


@pytest.mark.parametrize("max_buckets", [3, 1 << 20])
def test_a_removed_chunk_leaves_the_counts_of_the_rest(max_buckets: int) -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(5000), 3).astype(np.float32)
    thresholds = np.unique(scores[:400])
    tally = ThresholdTally(thresholds, max_buckets=max_buckets)
    tally.add(scores)
    tally.add(scores[:1234], weight=-1)
    np.testing.assert_array_equal(np.stack(tally.counts()), np.stack(_brute_force(thresholds, scores[1234:])))
    assert tally.total == len(scores) - 1234


def test_dense_float32_thresholds_are_counted_without_any_search() -> None:
    rng = np.random.default_rng(4)
    thresholds = np.unique(rng.random(3000, dtype=np.float32) * np.float32(0.001) + np.float32(0.5))
    scores = np.concatenate([thresholds[::7], rng.random(30000, dtype=np.float32) * np.float32(0.002) + np.float32(0.4995)])
    tally = ThresholdTally(thresholds)
    tally.add(scores)
    assert tally._shift == 0  # every bucket is one key: equal or not, never ambiguous
    np.testing.assert_array_equal(np.stack(tally.counts()), np.stack(_brute_force(thresholds, scores)))


def test_keys_from_one_computation_feed_several_tallies() -> None:
    rng = np.random.default_rng(5)
    scores = rng.normal(size=4000).astype(np.float32)
    first, second = np.unique(scores[:50]), np.unique(scores[100:900])
    tallies = [ThresholdTally(first, max_buckets=64), ThresholdTally(second, max_buckets=1 << 12)]
    keys = order_keys(scores)
    for tally in tallies:
        tally.add_keys(keys)
    for tally, thresholds in zip(tallies, (first, second)):
        np.testing.assert_array_equal(np.stack(tally.counts()), np.stack(_brute_force(thresholds, scores)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_order_keys_sort_like_the_scores_and_merge_signed_zeros(dtype: type) -> None:
    scores = _tricky_scores(np.random.default_rng(6), dtype, 2000)
    scores = np.concatenate([scores, np.array([np.inf, -np.inf], dtype=dtype)])
    keys = order_keys(scores)

    def compare(values: np.ndarray) -> np.ndarray:
        return (values[:, None] > values[None, :]).astype(np.int8) - (values[:, None] < values[None, :])

    np.testing.assert_array_equal(compare(keys), compare(scores))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_nonnegative_shortcut_gives_the_same_keys(dtype: type) -> None:
    scores = np.abs(_tricky_scores(np.random.default_rng(8), dtype, 500))
    scores[:2] = [0.0, -0.0]
    np.testing.assert_array_equal(order_keys(scores, nonnegative=True), order_keys(scores))


def test_round_down_gives_the_largest_float32_at_or_below() -> None:
    values = np.random.default_rng(7).normal(size=1000) * 10.0 ** np.arange(-5, 5).repeat(100)
    rounded = round_down_to(values, np.dtype(np.float32))
    assert rounded.dtype == np.float32
    assert np.all(rounded <= values)
    assert np.all(np.nextafter(rounded, np.float32(np.inf)) > values)
    exact = np.float32(0.25)
    assert round_down_to(np.array([float(exact)]), np.dtype(np.float32))[0] == exact


def test_no_thresholds_still_counts_the_total() -> None:
    tally = ThresholdTally(np.zeros(0, dtype=np.float32))
    tally.add(np.ones(5, dtype=np.float32))
    below, at_or_below = tally.counts()
    assert tally.total == 5 and below.size == 0 and at_or_below.size == 0


@pytest.mark.parametrize(
    ("thresholds", "scores", "message"),
    [
        (np.array([1.0, 0.5]), np.zeros(2), "sorted, distinct"),
        (np.array([0.5, 1.0], dtype=np.float32), np.zeros(2), "cast them first"),
        (np.array([1, 2]), np.zeros(2), "float32 or float64"),
    ],
)
def test_bad_thresholds_or_scores_are_refused(thresholds, scores, message: str) -> None:
    with pytest.raises(FiloError, match=message):
        ThresholdTally(thresholds).add(scores)
