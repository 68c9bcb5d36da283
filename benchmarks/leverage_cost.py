"""What does ``sampling="leverage"`` cost with the default settings? Fit time against ``sampling="gaussian"``.

Synthetic data (n rows, d = 10 standard normal columns, y = sin(x·1/√d) + noise), a Gaussian kernel
of bandwidth √d, ``RandomFeatureRidge`` with D output features (m = D/2 weights of cos/sin
pairs). Two regimes of the ``sampling_alpha="auto"`` rule, checked from ``features_.mixture_``:

* ``p``: a small α (s_α ≫ m), the rule samples from p (mixture 1);
* ``resample``: α = ``ALPHA_PER_ROW``·n (s_α ≪ m), the rule resamples from ½·q_α + ½·p.

It reports the ratio of the median fit times leverage / gaussian per (n, D, regime). Targets
(issue 18): ≤ 1.3 where the rule samples from p, ≤ 2 where it resamples, for n from 10⁴ to 10⁶.

Usage::

    python benchmarks/leverage_cost.py           # n = 10⁴, 10⁵ × D = 256, 1024, 2048, 3 repeats
    python benchmarks/leverage_cost.py --large   # n = 10⁶ × D = 256, 1024, 1 repeat (long: ~1 h on 1 core)
    python benchmarks/leverage_cost.py --quick   # n = 10⁴, D = 256, 1 repeat (a smoke run)
    python benchmarks/leverage_cost.py --sizes 100000 --dims 1024 --repeats 1   # any subset

Writes ``benchmarks/results/leverage_cost[_quick|_large].md`` and ``.json`` (atomically; a run with
``--sizes``/``--dims`` writes ``leverage_cost_custom.*``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import levrf

RESULTS = Path(__file__).parent / "results"
D_COLUMNS = 10
#: the small α of the "p" regime
ALPHA_P = 1e-3
#: α / n of the "resample" regime (s_α of a few tens with the Gaussian kernel of bandwidth √d)
ALPHA_PER_ROW = 0.05


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D_COLUMNS))
    y = np.sin(X.sum(1) / math.sqrt(D_COLUMNS)) + 0.1 * rng.standard_normal(n)
    return X, y


def fit_once(X, y, sampling: str, n_features: int, alpha: float, seed: int) -> tuple[float, float | None]:
    kernel = levrf.GaussianKernel(math.sqrt(D_COLUMNS))
    model = levrf.RandomFeatureRidge(kernel, n_features=n_features, sampling=sampling, alpha=alpha, random_state=seed)
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start, model.features_.mixture_


#: short fits are repeated until the gaussian fits add up to this many seconds (at most MAX_REPEATS)
MIN_SECONDS = 2.0
MAX_REPEATS = 25


def paired_seconds(X, y, n_features: int, alpha: float, repeats: int) -> tuple[float, float, float | None, int]:
    """Median fit times (gaussian, leverage), leverage's mixture and the number of pairs: the two
    samplers alternate seed by seed (a change of machine load affects both alike), at least
    ``repeats`` pairs and, for short fits, until the gaussian fits add up to MIN_SECONDS."""
    fit_once(X, y, "leverage", n_features, alpha, 0)  # warm-up (first-call allocations), not timed
    gaussian, leverage, mixture = [], [], None
    seed = 0
    while seed < repeats or (sum(gaussian) < MIN_SECONDS and seed < MAX_REPEATS):
        gaussian.append(fit_once(X, y, "gaussian", n_features, alpha, seed)[0])
        t, mixture = fit_once(X, y, "leverage", n_features, alpha, seed)
        leverage.append(t)
        seed += 1
    return float(np.median(gaussian)), float(np.median(leverage)), mixture, seed


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


#: the 1-minute load average when the module was loaded (reported with the results)
LOAD_AT_START = os.getloadavg()[0]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 10^4, D = 256, one repeat")
    parser.add_argument("--large", action="store_true", help="n = 10^6, D = 256 and 1024, one repeat")
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="the n values")
    parser.add_argument("--dims", nargs="+", type=int, default=None, help="the D values")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        sizes, dims, repeats, suffix = [10_000], [256], 1, "_quick"
    elif args.large:
        sizes, dims, repeats, suffix = [1_000_000], [256, 1024], 1, "_large"
    else:
        sizes, dims, repeats, suffix = [10_000, 100_000], [256, 1024, 2048], 3, ""
    if args.sizes or args.dims:
        sizes, dims, suffix = args.sizes or sizes, args.dims or dims, "_custom"
    repeats = args.repeats or repeats
    rows = []
    for n in sizes:
        X, y = synthetic(n)
        for D in dims:
            m = D // 2
            for regime, alpha in (("p", ALPHA_P), ("resample", ALPHA_PER_ROW * n)):
                gaussian, leverage, mixture, pairs = paired_seconds(X, y, m, alpha, repeats)
                row = {"n": n, "D": D, "regime": regime, "alpha": alpha, "mixture": mixture, "pairs": pairs,
                       "gaussian_s": gaussian, "leverage_s": leverage, "ratio": leverage / gaussian,
                       "target": 1.3 if regime == "p" else 2.0}
                rows.append(row)
                print(f"n={n:>9,} D={D:>5} {regime:>8}: mixture {mixture}, gaussian {gaussian:.3f} s, "
                      f"leverage {leverage:.3f} s, ratio {row['ratio']:.2f} (target ≤ {row['target']})", flush=True)
    lines = ["# Fit time of sampling='leverage' (defaults) against sampling='gaussian'", "",
             f"`python benchmarks/leverage_cost.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
             f"median of ≥ {repeats} alternating fit pairs (more for short fits, column 'pairs'), one warm-up fit "
             f"not timed; {torch.get_num_threads()} torch thread(s) on {os.cpu_count()} CPUs, load average "
             f"{LOAD_AT_START:.2f} at the start (other jobs raise it; its timings are then indicative only).",
             "", "| n | D | regime | mixture | pairs | gaussian (s) | leverage (s) | ratio | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['n']:,} | {r['D']} | {r['regime']} | {r['mixture']} | {r['pairs']} | {r['gaussian_s']:.3f} | "
              f"{r['leverage_s']:.3f} | {r['ratio']:.2f} | ≤ {r['target']} |" for r in rows]
    write_atomic(RESULTS / f"leverage_cost{suffix}.md", "\n".join(lines) + "\n")
    write_atomic(RESULTS / f"leverage_cost{suffix}.json", json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
