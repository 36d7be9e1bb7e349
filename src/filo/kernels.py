"""CPU kernels whose results do not depend on the number of threads.

Every filo stage that runs a network (boxes, train, evaluate, predict) calls
`use_thread_independent_kernels` first, so its artifact has the same bytes on a 2-core
laptop and a 64-core server.
"""

from __future__ import annotations


def use_thread_independent_kernels() -> None:
    """Turn oneDNN (mkldnn) convolutions off for this process; torch's own CPU convolution is used instead.

    oneDNN splits the reductions of its CPU convolutions by thread count: the forward of
    Grounding DINO's 1×1 input projections and the weight gradient of the MMCI heads change
    in the last bits between 1 and 2 threads. torch's native convolution (im2col + MKL gemm)
    and every other kernel these stages use give identical bytes for 1, 2, 3, 8 and 16
    threads. The switch is process-wide (like `torch.use_deterministic_algorithms`) and is
    never turned back on, so stages running concurrently in one process cannot undo it.
    """
    import torch

    torch.backends.mkldnn.enabled = False
