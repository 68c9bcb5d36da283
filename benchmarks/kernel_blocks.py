"""Why :meth:`levrf.kernels.Kernel.compute` works in cache-sized row blocks on the CPU.

Times ``kernel.compute(X_chunk, C)`` over 20,000 rows (d = 6, float64) against M centers, the
rows taken in chunks of a given output size, for the Gaussian, Laplacian and Matérn-3/2 kernels.
``compute`` itself blocks (``COMPUTE_BLOCK_BYTES``); to time the unblocked evaluation this
script calls the kernel's private ``_exact`` on each chunk, which is what ``compute`` did before.

Usage::

    python benchmarks/kernel_blocks.py            # M = 512, 2,048, 8,192
    python benchmarks/kernel_blocks.py --quick    # M = 2,048

Prints a markdown table (seconds, median of 3) and writes it to
``benchmarks/results/kernel_blocks.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

import levrf
from levrf.kernels.base import COMPUTE_BLOCK_BYTES

RESULTS = Path(__file__).parent / "results"
CHUNK_MIB = (0.5, 1, 2, 4, 8, 128)


def timed(kernel, X: torch.Tensor, C: torch.Tensor, chunk_bytes: float, repeats: int) -> float:
    rows = max(1, int(chunk_bytes // (X.element_size() * C.shape[0])))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for s in range(0, X.shape[0], rows):
            kernel._exact(X[s : s + rows], C)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    cfg = parser.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(20000, 6, generator=gen, dtype=torch.float64)
    kernels = {"gaussian": levrf.GaussianKernel(2.8), "laplacian": levrf.LaplacianKernel(2.8),
               "matern 3/2": levrf.MaternKernel(1.5, 2.8)}
    header = "| M | kernel | " + " | ".join(f"{c:g} MiB" for c in CHUNK_MIB) + " | best ÷ 128 MiB |"
    lines = [f"Threads: {torch.get_num_threads()}, load average at start {os.getloadavg()[0]:.2f}; "
             f"COMPUTE_BLOCK_BYTES = {COMPUTE_BLOCK_BYTES / 2**20:g} MiB. Seconds for K(X, C), X 20,000 × 6.",
             "", header, "|" + "---|" * (len(CHUNK_MIB) + 3)]
    for M in ((2048,) if cfg.quick else (512, 2048, 8192)):
        C = X[:M].clone()
        for name, kernel in kernels.items():
            t = [timed(kernel, X, C, c * 2**20, cfg.repeats) for c in CHUNK_MIB]
            lines.append(f"| {M} | {name} | " + " | ".join(f"{v:.3f}" for v in t) + f" | {min(t) / t[-1]:.2f} |")
            print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("kernel_blocks_quick.md" if cfg.quick else "kernel_blocks.md")).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
