"""Why :meth:`levrf.kernels.Kernel.compute` works in cache-sized row blocks on the CPU.

Times the kernel matrix of 20,000 rows (d = 6, float64) against M centers for the Gaussian,
Laplacian and Matérn-3/2 kernels: the kernel's private ``_exact`` on row chunks of a given output
size (what ``compute`` did before it blocked), ``kernel.compute(X, C)`` itself (row blocks of
``COMPUTE_BLOCK_BYTES``, the centers' side of the distances prepared once per call), and
scikit-learn's function for the same kernel (``rbf_kernel``, ``laplacian_kernel``,
``gaussian_process.kernels.Matern``) on the same arrays: the peer.

Usage::

    python benchmarks/kernel_blocks.py            # M = 512, 2,048, 8,192, 16,384
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

import numpy as np
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


def timed_call(function, args: tuple, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sklearn_kernel(name: str, bandwidth: float):
    """scikit-learn's function for the same kernel (imported after levrf, as a user would)."""
    from sklearn.gaussian_process.kernels import Matern
    from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel

    if name == "gaussian":
        return lambda X, C: rbf_kernel(X, C, gamma=1.0 / (2 * bandwidth**2))
    if name == "laplacian":
        return lambda X, C: laplacian_kernel(X, C, gamma=1.0 / bandwidth)
    return Matern(length_scale=bandwidth, nu=1.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    cfg = parser.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(20000, 6, generator=gen, dtype=torch.float64)
    kernels = {"gaussian": levrf.GaussianKernel(2.8), "laplacian": levrf.LaplacianKernel(2.8),
               "matern 3/2": levrf.MaternKernel(1.5, 2.8)}
    header = ("| M | kernel | " + " | ".join(f"_exact, {c:g} MiB chunks" for c in CHUNK_MIB)
              + " | compute | scikit-learn | scikit-learn ÷ compute | max abs difference |")
    command = "python benchmarks/kernel_blocks.py" + (" --quick" if cfg.quick else "")
    lines = [f"Command: `{command}`. Threads: {torch.get_num_threads()}, load average at start "
             f"{os.getloadavg()[0]:.2f}; COMPUTE_BLOCK_BYTES = {COMPUTE_BLOCK_BYTES / 2**20:g} MiB. "
             "Seconds for K(X, C), X 20,000 × 6 (median of the repeats).",
             "", header, "|" + "---|" * (len(CHUNK_MIB) + 6)]
    Xn = X.numpy()
    for M in ((2048,) if cfg.quick else (512, 2048, 8192, 16384)):
        C = X[:M].clone()
        for name, kernel in kernels.items():
            t = [timed(kernel, X, C, c * 2**20, cfg.repeats) for c in CHUNK_MIB]
            ours = timed_call(kernel.compute, (X, C), cfg.repeats)
            peer = sklearn_kernel(name, 2.8)
            theirs = timed_call(peer, (Xn, C.numpy()), cfg.repeats)
            gap = float(np.abs(kernel.compute(X, C).numpy() - peer(Xn, C.numpy())).max())
            lines.append(f"| {M} | {name} | " + " | ".join(f"{v:.3f}" for v in t)
                         + f" | {ours:.3f} | {theirs:.3f} | {theirs / ours:.1f} | {gap:.1e} |")
            print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("kernel_blocks_quick.md" if cfg.quick else "kernel_blocks.md")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(["## Kernel evaluation: levrf compute vs scikit-learn", "", *lines]) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
