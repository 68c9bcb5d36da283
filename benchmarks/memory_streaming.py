"""Peak memory of RandomFeatureRidge on 2,000,000 × 10 rows with 512 Gaussian weights (D = 1024).

Ψ would take n·D·8 bytes = 16 GB if it were materialised; the streaming fit keeps only
ΨᵀΨ (8 MB), ΨᵀY and one row chunk of Ψ. The script measures

- the process's peak resident set size (``VmHWM`` in ``/proc/self/status``: NumPy, torch and
  the interpreter together), before and after the fit;
- the peak of Python-level allocations during the fit with ``tracemalloc`` (NumPy arrays are
  traced; torch's own allocator is not, which is why RSS is the number that matters).

X (n × 10 float64 = 160 MB) is generated in place, block by block, so that its generation
adds no temporary of the same size.

Usage: ``python benchmarks/memory_streaming.py [--n 2000000] [--features 512] [--threads 2]``
Writes ``benchmarks/results/memory_streaming.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

import levrf

RESULTS = Path(__file__).parent / "results"
LIMIT_BYTES = 1.5e9


def proc_status(field: str) -> int:
    """A ``/proc/self/status`` memory field (e.g. ``VmHWM``, ``VmRSS``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def synthetic(n: int, d: int, seed: int, block: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """``X ~ N(0, I_d)``, ``y = sin(x₁) + x₂x₃/2 + 0.1ε``, generated block by block in place."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, d))
    y = np.empty(n)
    for s in range(0, n, block):
        e = min(n, s + block)
        rng.standard_normal(out=X[s:e])
        y[s:e] = np.sin(X[s:e, 0]) + 0.5 * X[s:e, 1] * X[s:e, 2] + 0.1 * rng.standard_normal(e - s)
    return X, y


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--features", type=int, default=512, help="number of random weights m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "memory_streaming.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    X, y = synthetic(args.n, args.d, seed=0)
    X_test, y_test = synthetic(10_000, args.d, seed=1)
    rss_before = proc_status("VmRSS")
    reset_ok = reset_peak_rss()
    tracemalloc.start()
    model = levrf.RandomFeatureRidge(
        levrf.GaussianKernel(bandwidth=2.0), n_features=args.features, alpha=1.0, random_state=0, fit_intercept=False
    )
    t0 = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_rss = proc_status("VmHWM")
    r2 = model.score(X_test, y_test)
    D = model.features_.n_output_features_
    result = {
        "n": args.n,
        "d": args.d,
        "m": args.features,
        "D": D,
        "threads": args.threads,
        "X_bytes": X.nbytes,
        "Psi_bytes_if_materialised": args.n * D * 8,
        "rss_before_fit_bytes": rss_before,
        "peak_rss_bytes": peak_rss,
        "peak_rss_is_fit_only": reset_ok,
        "tracemalloc_peak_fit_bytes": traced_peak,
        "fit_seconds": fit_s,
        "test_r2": r2,
        "limit_bytes": LIMIT_BYTES,
        "passed": peak_rss < LIMIT_BYTES,
    }
    write_report(result, args.output)
    print(json.dumps(result, indent=2))
    return result


def write_report(r: dict, path: Path) -> None:
    mb = 2**20
    scope = "during the fit (VmHWM reset before it)" if r["peak_rss_is_fit_only"] else "whole process"
    lines = [
        "## Streaming memory: RandomFeatureRidge on n = {n:,} × {d} rows".format(**r),
        "",
        f"Command: `python benchmarks/memory_streaming.py --n {r['n']} --features {r['m']} --threads {r['threads']}`",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| random weights m / feature dimension D | {r['m']} / {r['D']} |",
        f"| X (float64) | {r['X_bytes'] / mb:,.0f} MiB |",
        f"| Ψ if it were materialised | {r['Psi_bytes_if_materialised'] / mb:,.0f} MiB |",
        f"| process RSS before the fit (interpreter, torch, X, y) | {r['rss_before_fit_bytes'] / mb:,.0f} MiB |",
        f"| **peak RSS, {scope}** | **{r['peak_rss_bytes'] / mb:,.0f} MiB** (limit {r['limit_bytes'] / 1e9:.1f} GB: {'met' if r['passed'] else 'NOT met'}) |",
        f"| tracemalloc peak during the fit (NumPy/Python only) | {r['tracemalloc_peak_fit_bytes'] / mb:,.1f} MiB |",
        f"| fit wall time ({r['threads']} threads) | {r['fit_seconds']:.1f} s |",
        f"| test R² (10,000 fresh rows) | {r['test_r2']:.4f} |",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    path.with_suffix(".json").write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
