"""OpenBLAS's idle spin against torch's threads: why ``import levrf`` sets ``OPENBLAS_THREAD_TIMEOUT``.

levrf calls SciPy's OpenBLAS for ``syrk``/``trmm``/``pstrf``/``trtri`` between torch (MKL/OpenMP)
operations (``levrf.scipy_blas``). This script runs the same measurements in two fresh processes,
one with OpenBLAS's default idle spin (``OPENBLAS_THREAD_TIMEOUT=28``, set explicitly so that levrf
keeps it) and one with levrf's default (``4``), and reports both:

* a 2,000 × 2,048 Gaussian kernel block (torch) computed alone, and right after a multithreaded
  OpenBLAS ``trmm`` or ``syrk`` of the same size (medians of 9);
* whole fits that interleave the two libraries: ``NystromRidge`` (M = 2,048, 20,000 synthetic rows,
  d = 9) and ``RandomFeatureRidge(sampling="leverage")`` against ``sampling="gaussian"``
  (n = 10,000, d = 10, 128 weights, α = 1e-3: the leverage rule's pilot calls ``trtri``; medians of 9).

Usage: ``python benchmarks/openblas_spin.py`` (about a minute) writes
``benchmarks/results/openblas_spin.md``. Time it on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

CHILD = r"""
import json, math, statistics, time
import levrf, numpy as np, torch
from scipy.linalg import blas

def median_ms(steps, target, repeats=9):
    for f in steps:
        f()
    times = []
    for _ in range(repeats):
        for f in steps:
            start = time.perf_counter(); f(); elapsed = time.perf_counter() - start
            if f is target:
                times.append(elapsed)
    return 1e3 * statistics.median(times)

gen = torch.Generator().manual_seed(0)
n, r = 2000, 2048
A = torch.randn(n, r, dtype=torch.float64, generator=gen)
T = torch.triu(torch.randn(r, r, dtype=torch.float64, generator=gen))
X = torch.randn(n, 9, dtype=torch.float64, generator=gen); C = torch.randn(r, 9, dtype=torch.float64, generator=gen)
kernel = levrf.GaussianKernel(3.0); out = torch.empty(n, r, dtype=torch.float64)
G = np.zeros((r, r), order="F")
def block(): kernel.compute(X, C, out=out)
def trmm(): blas.dtrmm(1.0, T.numpy().T, A.numpy().T, side=0, lower=1, trans_a=0, overwrite_b=1)
def syrk(): blas.dsyrk(1.0, A.numpy().T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)
result = {"kernel block alone": median_ms([block], block),
          "kernel block after trmm": median_ms([trmm, block], block),
          "kernel block after syrk": median_ms([syrk, block], block)}

rng = np.random.default_rng(0)
Xn = rng.standard_normal((20000, 9)); yn = np.sin(Xn.sum(1) / 3.0)
def nystrom():
    levrf.NystromRidge(levrf.GaussianKernel(3.0), n_components=2048, alpha=0.1, random_state=0,
                       fit_intercept=False, solver="cholesky").fit(Xn, yn)
result["NystromRidge fit (s)"] = median_ms([nystrom], nystrom, repeats=3) / 1e3

Xr = rng.standard_normal((10000, 10)); yr = np.sin(Xr.sum(1) / math.sqrt(10))
def fit(sampling):
    def run():
        levrf.RandomFeatureRidge(levrf.GaussianKernel(math.sqrt(10)), n_features=128, sampling=sampling,
                                 alpha=1e-3, random_state=0).fit(Xr, yr)
    return run
gaussian, leverage = fit("gaussian"), fit("leverage")
g = median_ms([gaussian, leverage], gaussian); l = median_ms([gaussian, leverage], leverage)
result["leverage fit / gaussian fit"] = l / g
print(json.dumps(result))
"""


def measure(timeout: str) -> dict:
    env = {**os.environ, "OPENBLAS_THREAD_TIMEOUT": timeout}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import torch

    default, levrf_default = measure("28"), measure("4")
    lines = ["# OpenBLAS idle spin against torch's threads", "",
             f"`python benchmarks/openblas_spin.py`; {torch.get_num_threads()} torch threads on "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end. Kernel blocks: "
             "medians of 9, in ms; fits: medians, in s; the last row is a ratio of medians.", "",
             "| measurement | OPENBLAS_THREAD_TIMEOUT=28 (OpenBLAS default) | =4 (levrf default) |",
             "|---|---:|---:|"]
    for key in default:
        lines.append(f"| {key} | {default[key]:.3g} | {levrf_default[key]:.3g} |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "openblas_spin.md"
    fd, tmp = tempfile.mkstemp(dir=RESULTS, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
