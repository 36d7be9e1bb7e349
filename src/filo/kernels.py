"""CPU kernels and thread counts that make a stage's bytes repeatable, and what that holds for.

What changes the bits of the same computation on a CPU, as measured on the demo's sizes
(AMD EPYC and Intel Xeon with AVX-512, 2 cores, torch 2.14.1 with MKL 2024.2; evidence of
the Intel machine in the issue "CI fails on Intel processors"):

- **MKL's GEMMs** (every `Linear`, `matmul`, `bmm` and, with oneDNN off, every convolution:
  im2col + sgemm). Without conditional numerical reproducibility (CNR) their summation order
  depends on the thread count on any processor (measured here: 1 vs 2 threads differ).
  With ``MKL_CBWR`` set, MKL runs in CNR mode: bitwise the same from run to run *for a fixed
  thread count* (Intel's documented guarantee; on non-Intel processors MKL honours only its
  ``AUTO`` and ``COMPATIBLE`` branches, so ``AVX2`` means ``AUTO`` there: measured, same
  bytes). The ``STRICT`` flag makes ``?gemm`` (and ``?symm``, ``?hemm``, ``?trsm``) bitwise
  independent of the thread count too, on Intel's AVX2 and AVX-512 branches only: on the
  Intel machine, Grounding DINO's 4,077 box logits of the demo differed in 47 rows between
  1 and 2 threads with ``AVX2`` and in none with ``AVX2,STRICT``. On an AMD EPYC ``STRICT``
  changes no bit (the AUTO branch), and there 1 and 2 threads happen to agree at the demo's
  sizes; nothing documents that.
- **The processor vendor.** MKL runs different code on Intel (the AVX2 branch asked for) and
  on AMD (AUTO): the demo's box logits differ in 54 of 4,077 rows, by at most 4.9e-6, between
  the two, with or without ``STRICT``. No MKL setting documents equal results across
  vendors except ``COMPATIBLE``, which is about 2x slower and still thread-dependent. So
  artifacts are *not* byte-identical across processors: the demo's metrics moved by at most
  1.4e-5 (pixel AUPRO; image metrics not at all), hence `REPRODUCIBLE_METRICS_ABS_TOL`.
- **oneDNN (mkldnn)** splits the reductions of its CPU convolutions by thread count
  (Grounding DINO's 1×1 projections, the MMCI heads' weight gradient): turned off.
- **torch's own kernels** pick AVX2 or AVX-512 code from the CPU; ``ATEN_CPU_CAPABILITY=avx2``
  makes every x86-64 processor of the last decade run the same instructions. Their parallel
  reductions (above ~32k elements per reduction, full-tensor means, long sums with few
  outputs) split work by thread count, deterministically for a given count.
- **The batch an image sits in**: a GEMM's blocking depends on its row count, so an image's
  score may move in the last bits with its batch (measured on Intel: 1.2e-7).

What filo therefore guarantees, and the tests assert:

- *Same machine, same library versions (requirements/constraints.txt), same thread count*:
  every artifact has the same bytes, whatever the working folder and whichever runner (DVC or
  the Prefect flow and its Dask workers). Every stage that runs a network calls
  `use_reproducible_kernels`, which computes with `compute_threads()` threads (all CPUs the
  process may use, or ``FILO_NUM_THREADS``), so a Dask worker (started with
  ``OMP_NUM_THREADS=1``) computes with the same count as ``dvc repro``.
- *Another thread count or another processor*: the same artifacts up to float32 rounding;
  metrics within `REPRODUCIBLE_METRICS_ABS_TOL` of the committed ones (`filo check-repro`).
  On Intel processors with AVX2 the thread count changes no GEMM (``STRICT``).

`pin_cpu_code_paths` runs when the `filo` package is imported, before torch or MKL compute
(both read their variables then), and leaves any value the environment already chose.
Other architectures (ARM) run other code: the same tolerance, no byte promise.
"""

from __future__ import annotations

import logging
import os
import platform

logger = logging.getLogger(__name__)

CPU_CODE_PATHS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT"}
"""Environment variables choosing torch's (ATen) and MKL's x86 code paths, and the value filo sets."""
THREADS_ENV = "FILO_NUM_THREADS"
"""Environment variable: the intra-op thread count of every stage (default: all CPUs the process may use)."""
REPRODUCIBLE_METRICS_ABS_TOL = 1e-4
"""How far a metric may move on another processor or thread count (measured: at most 1.4e-5)."""
_X86 = ("x86_64", "amd64", "i386", "i686")


def pin_cpu_code_paths() -> None:
    """Ask ATen for its AVX2 code and MKL for CNR mode on x86 (only where the environment has not chosen)."""
    if platform.machine().lower() in _X86:
        for name, value in CPU_CODE_PATHS.items():
            os.environ.setdefault(name, value)


def compute_threads() -> int:
    """The intra-op thread count stages compute with: ``$FILO_NUM_THREADS``, else every CPU this process may use.

    Raises ValueError for a value that is not a positive integer (this module imports nothing of filo).
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV}={value!r} is not a thread count: set a positive integer or unset it")
    return int(value)


def use_reproducible_kernels() -> None:
    """Make this process compute as every stage does: oneDNN convolutions off, `compute_threads()` threads.

    Called first by every stage that runs a network (boxes, train, evaluate, predict), in
    whichever process runs it: a `dvc repro` stage, the Prefect flow or one of its Dask
    workers. Equal thread counts make the runners' artifacts byte-identical on one machine
    (see the module docstring). Both switches are process-wide (like
    `torch.use_deterministic_algorithms`) and set to the same values by every caller, so
    stages running concurrently in one process agree. Warns when torch already runs other x86
    code than `pin_cpu_code_paths` asks for.
    """
    import torch

    torch.backends.mkldnn.enabled = False
    threads = compute_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    wanted = os.environ.get("ATEN_CPU_CAPABILITY", "")
    running = torch.backends.cpu.get_cpu_capability()
    if wanted and running.lower() != wanted.lower():
        logger.warning(
            "torch runs %s CPU code, not %s: torch computed before filo was imported, so artifacts may differ "
            "in the last bits from other machines; import filo first or set ATEN_CPU_CAPABILITY=%s",
            running, wanted, wanted)
