"""Metric values do not depend on how many threads the BLAS library uses."""

import os
import subprocess
import sys

SCRIPT = """
import numpy as np
from filo.metrics.counts import average_precision, count_in_memory, roc_auc
rng = np.random.default_rng(0)
positives = rng.random(2_000_000)  # 2M distinct thresholds: long enough for a threaded dot product
negatives = 0.9 * rng.random(1_000_000)
counts = count_in_memory(positives, negatives)
print(repr(roc_auc(counts)), repr(average_precision(counts)))
"""


def _values(threads: int) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    completed = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                               timeout=300, check=True)
    return completed.stdout


def test_auroc_and_ap_have_the_same_bits_with_one_and_four_blas_threads():
    assert _values(1) == _values(4)
