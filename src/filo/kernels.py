"""CPU kernels whose results depend neither on the number of threads nor on the processor model.

Two things make the same computation give other bits on another machine:

- the thread count: oneDNN (mkldnn) splits the reductions of its CPU convolutions by
  thread; every stage that runs a network (boxes, train, evaluate, predict) calls
  `use_thread_independent_kernels` first;
- the processor: torch's own kernels and MKL pick AVX2 or AVX-512 code (other vector
  widths, other summation orders) from the CPU they run on. `pin_cpu_code_paths`, run when
  the `filo` package is imported, asks both for their AVX2 code, which every x86-64
  processor of the last decade runs, unless the environment already chose
  (``ATEN_CPU_CAPABILITY``, ``MKL_CBWR``). Both libraries read these variables when they
  first compute, not when torch is imported.

So an artifact of the demo profile has the same bytes on a 2-core AVX2 laptop and a 64-core
AVX-512 server (same library versions: requirements/constraints.txt). Other architectures
(ARM) run other code and give other bits. Not covered: above ~32k elements per reduction
(the paper profile's 518-pixel maps on a CPU, or training batches of 16 at 64 pixels),
torch's full-tensor means, sums over a long dimension with few outputs, and the softmax
over the two map channels split their work by thread too (last-bit differences).
"""

from __future__ import annotations

import logging
import os
import platform

logger = logging.getLogger(__name__)

CPU_CODE_PATHS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
"""Environment variables choosing torch's (ATen) and MKL's x86 code paths, and the value filo sets."""
_X86 = ("x86_64", "amd64", "i386", "i686")


def pin_cpu_code_paths() -> None:
    """Ask ATen and MKL for their AVX2 code on x86 (only where the environment has not chosen)."""
    if platform.machine().lower() in _X86:
        for name, value in CPU_CODE_PATHS.items():
            os.environ.setdefault(name, value)


def use_thread_independent_kernels() -> None:
    """Turn oneDNN (mkldnn) convolutions off for this process; torch's own CPU convolution is used instead.

    oneDNN splits the reductions of its CPU convolutions by thread count: the forward of
    Grounding DINO's 1×1 input projections and the weight gradient of the MMCI heads change
    in the last bits between 1 and 2 threads. torch's native convolution (im2col + MKL gemm)
    and every other kernel these stages use at the demo's sizes give identical bytes for 1
    and 2 threads. The switch is process-wide (like `torch.use_deterministic_algorithms`)
    and is never turned back on, so stages running concurrently in one process cannot undo
    it. Warns when torch already runs other x86 code than `pin_cpu_code_paths` asks for.
    """
    import torch

    torch.backends.mkldnn.enabled = False
    wanted = os.environ.get("ATEN_CPU_CAPABILITY", "")
    running = torch.backends.cpu.get_cpu_capability()
    if wanted and running.lower() != wanted.lower():
        logger.warning(
            "torch runs %s CPU code, not %s: torch computed before filo was imported, so artifacts may differ "
            "in the last bits from other machines; import filo first or set ATEN_CPU_CAPABILITY=%s",
            running, wanted, wanted)
