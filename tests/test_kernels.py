"""Importing filo pins torch's and MKL's x86 code paths; stages turn thread-dependent convolutions off."""

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
    assert _capability() == ["AVX2", "AVX2"]
    assert _capability(ATEN_CPU_CAPABILITY="default", MKL_CBWR="COMPATIBLE") == ["DEFAULT", "COMPATIBLE"]


def test_thread_independent_kernels_turn_onednn_convolutions_off():
    import torch

    from filo.kernels import use_thread_independent_kernels

    use_thread_independent_kernels()
    assert torch.backends.mkldnn.enabled is False
