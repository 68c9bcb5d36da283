"""Which inverse square root of K_CC: levrf's pivoted Cholesky, the eigen path, or scikit-learn's?

On the tables of ``benchmarks/approximation.py`` (exact KRR on 8,000 training rows, Gaussian
kernel at the median-heuristic bandwidth, α as there), the **same** M uniform centers are
normalized three ways and each ridge predictor is compared with exact kernel ridge on 10,000
test rows:

* ``pivoted cholesky``: ``levrf.Nystroem`` (LAPACK ``pstrf`` stopped at ``M·eps·max K_ii``);
* ``eigh``: ``nystroem_normalization(K_CC, float64, method="eigh")``, the eigenvalues above
  ``M·eps·s_max`` (levrf's map before the pivoted factor);
* ``sklearn``: ``sklearn.kernel_approximation.Nystroem`` fitted on the centers alone (SVD,
  singular values clamped at 1e-12).

Reported per (table, M, α): output columns r, relative distance ``‖f − f*‖/‖f*‖`` and test RMSE,
and the seconds each normalization took (``K_CC`` and the factorization only).

Usage::

    python benchmarks/nystroem_normalization.py            # 4 tables, M = 1,024 and 2,048, α = 0.1 and 1e-3
    python benchmarks/nystroem_normalization.py --quick    # diamonds, M = 1,024, α = 0.1

Writes ``benchmarks/results/nystroem_normalization[_quick].md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.kernel_approximation import Nystroem as SkNystroem

import levrf
from levrf.nystroem import nystroem_normalization

sys.path.insert(0, str(Path(__file__).parent))
from approximation import TABLES, load_table, median_bandwidth  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def ridge(P: np.ndarray, y: np.ndarray, Pt: np.ndarray, alpha: float) -> np.ndarray:
    G = P.T @ P
    G[np.diag_indices_from(G)] += alpha
    return Pt @ np.linalg.solve(G, P.T @ y)


def run(name: str, Ms, alphas, rng) -> list[str]:
    X, y = load_table(name)
    idx = rng.permutation(X.shape[0])[: min(X.shape[0], 18000)]
    X, y, Xt, yt = X[idx][:8000], y[idx][:8000], X[idx][8000:], y[idx][8000:]
    sigma = median_bandwidth(X, rng)
    kernel = levrf.GaussianKernel(sigma)
    lines = []
    for alpha in alphas:
        exact = levrf.KernelRidge(kernel, alpha=alpha, fit_intercept=False).fit(X, y).predict(Xt)
        for M in Ms:
            f = levrf.Nystroem(kernel, n_components=M, random_state=0)
            start = time.perf_counter()
            f.fit(X)
            seconds = {"pivoted cholesky": time.perf_counter() - start}
            C = f.centers_
            maps = {"pivoted cholesky": (f.transform(X), f.transform(Xt))}
            start = time.perf_counter()
            N, _ = nystroem_normalization(kernel(C), torch.float64, method="eigh")
            seconds["eigh"] = time.perf_counter() - start
            KX, Kt = kernel(X, C).numpy(), kernel(Xt, C).numpy()
            maps["eigh"] = (KX @ N.numpy(), Kt @ N.numpy())
            sk = SkNystroem(kernel="rbf", gamma=1 / (2 * sigma**2), n_components=M)
            start = time.perf_counter()
            sk.fit(C.numpy())
            seconds["sklearn"] = time.perf_counter() - start
            maps["sklearn"] = (sk.transform(X), sk.transform(Xt))
            for method, (P, Pt) in maps.items():
                pred = ridge(P, y, Pt, alpha)
                dist = np.linalg.norm(pred - exact) / np.linalg.norm(exact)
                rmse = float(np.sqrt(np.mean((pred - yt) ** 2)))
                lines.append(f"| {name} | {M} | {alpha:g} | {method} | {P.shape[1]} | {dist:.5f} | {rmse:.4f} | "
                             f"{seconds[method]:.2f} |")
                print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    cfg = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    tables, Ms, alphas = (("diamonds",), (1024,), (0.1,)) if cfg.quick else (TABLES, (1024, 2048), (0.1, 1e-3))
    command = "python benchmarks/nystroem_normalization.py" + (" --quick" if cfg.quick else "")
    lines = ["## Nyström normalization: pivoted Cholesky vs eigh vs scikit-learn on the same centers "
             "(`benchmarks/nystroem_normalization.py`)", "", f"Command: `{command}`", "",
             f"Threads: {torch.get_num_threads()}, load average at start {os.getloadavg()[0]:.2f}. "
             "The same uniform centers (seed 0) normalized three ways; exact KRR on 8,000 training rows.", "",
             "| table | M | α | normalization | r | rel. distance to exact KRR | test RMSE | seconds |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for name in tables:
        lines += run(name, Ms, alphas, rng)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("nystroem_normalization_quick.md" if cfg.quick else "nystroem_normalization.md")).write_text(
        "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
