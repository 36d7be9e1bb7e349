"""Importing filo pins torch's and MKL's x86 code paths; stages compute with one thread count and no oneDNN."""

import os
import platform
import subprocess
import sys

import pytest

from filo.kernels import CPU_CODE_PATHS

SCRIPT = "import filo, os, torch; torch.ones(1).exp(); print(torch.backends.cpu.get_cpu_capability(), os.environ['MKL_CBWR'])"


def _capability(**env_overrides: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in CPU_CODE_PATHS}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                          check=True).stdout.split()


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 code paths only")
def test_importing_filo_selects_avx2_code_unless_the_environment_chose():
    assert _capability() == ["AVX2", "AVX2,STRICT"]
    assert _capability(ATEN_CPU_CAPABILITY="default", MKL_CBWR="COMPATIBLE") == ["DEFAULT", "COMPATIBLE"]


def test_reproducible_kernels_turn_onednn_off_and_compute_with_the_stage_thread_count(monkeypatch):
    import torch

    from filo.kernels import THREADS_ENV, compute_threads, use_reproducible_kernels

    previous = torch.get_num_threads()
    try:
        monkeypatch.delenv(THREADS_ENV, raising=False)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as a Dask worker's environment has it
        use_reproducible_kernels()
        assert torch.backends.mkldnn.enabled is False
        assert torch.get_num_threads() == compute_threads() == len(os.sched_getaffinity(0))

        monkeypatch.setenv(THREADS_ENV, "1")
        use_reproducible_kernels()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_thread_count_that_is_not_a_positive_integer_is_refused_with_the_variable(monkeypatch, value):
    from filo.kernels import THREADS_ENV, compute_threads

    monkeypatch.setenv(THREADS_ENV, value)
    with pytest.raises(ValueError, match=rf"{THREADS_ENV}='{value}' is not a thread count"):
        compute_threads()
