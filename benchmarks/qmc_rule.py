"""Where do quasi-Monte Carlo weights beat i.i.d. ones? A sweep in m / s_α, smooth and rough kernels.

For Gaussian-kernel ridge problems (2,000 training rows, 1,000 held-out rows, exact KRR as the
reference f*) the script fits ``RandomFeatureRidge`` with m = k·s_α weights, k from 1/8 to 2, drawn
i.i.d. from p (``sampling="gaussian"``) and by randomized quasi-Monte Carlo (``sampling="qmc"``),
and reports the mean relative distance ``‖f − f*‖/‖f*‖`` on the held-out rows over seeds and the
ratio qmc/gaussian ± its standard error. The leverage samplers' p branch
(:func:`levrf.leverage.qmc.draw_from_p`) takes its threshold ``QMC_MIN_RATIO`` from this table.

Usage::

    python benchmarks/qmc_rule.py                 # 10 seeds, a few minutes on 2 cores
    python benchmarks/qmc_rule.py --seeds 2       # a smoke run

Writes ``benchmarks/results/qmc_rule.md`` and ``qmc_rule.json``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from auto_rule import distance, exact_predictor, load, ratio_with_se, run_and_write, sweep_parser

import levrf

RESULTS = Path(__file__).parent / "results"

#: label → (dataset, σ, α): benchmarks/krr.py's four settings and the leverage docs' exploration one
PROBLEMS = {
    "diamonds σ=2, α=1": ("diamonds", 2.0, 1.0),
    "diamonds σ=0.5, α=0.01": ("diamonds", 0.5, 0.01),
    "flights σ=4, α=0.01": ("flights", 4.0, 0.01),
    "flights σ=1, α=0.01": ("flights", 1.0, 0.01),
    "diamonds σ=0.5√6, α=0.1": ("diamonds", 0.5 * math.sqrt(6), 0.1),
}
RATIOS = (0.125, 0.25, 0.5, 1.0, 2.0)


def run(args) -> dict:
    out = {}
    for label in args.problems:
        dataset, sigma, alpha = PROBLEMS[label]
        X, y, Xt, _ = load(dataset, args.n_train, args.n_test)
        kernel = levrf.GaussianKernel(sigma)
        f_star, s = exact_predictor(kernel, X, y, Xt, alpha)
        print(f"== {label}: s_α = {s:.0f}", flush=True)
        cells = {}
        for k in RATIOS:
            m = max(2, round(k * s))
            res = {how: [distance(kernel, X, y, Xt, f_star, m, alpha, how, seed) for seed in range(args.seeds)]
                   for how in ("gaussian", "qmc")}
            r, se = ratio_with_se(res["qmc"], res["gaussian"])
            cells[k] = {"m": m, "distances": res, "ratio": r, "ratio_se": se}
            print(f"   k={k:5.3f} m={m:5d}  gaussian {np.mean(res['gaussian']):.4f}  qmc {np.mean(res['qmc']):.4f}"
                  f"  (×{r:.2f} ± {se:.2f})", flush=True)
        out[label] = {"statistical_dimension": s, "cells": cells}
    return out


def markdown(out: dict, args, seconds: float) -> str:
    lines = [
        "## Where quasi-Monte Carlo weights help (`benchmarks/qmc_rule.py`)",
        "",
        f"Command: `python benchmarks/qmc_rule.py --seeds {args.seeds}`; {args.n_train:,} training / "
        f"{args.n_test:,} held-out rows, exact KRR as f*, {args.seeds} seeds per cell, {seconds:.0f} s. Cells: "
        "ratio of mean relative distances ‖f − f*‖/‖f*‖, `sampling=\"qmc\"` / `sampling=\"gaussian\"`, ± its "
        "standard error (< 1: QMC better), at m = k·s_α.",
        "",
        "| problem (s_α) | " + " | ".join(f"k = {k:g}" for k in RATIOS) + " |",
        "|---|" + "---|" * len(RATIOS),
    ]
    for label, res in out.items():
        row = [f"×{c['ratio']:.2f} ± {c['ratio_se']:.2f} (m={c['m']})" for c in res["cells"].values()]
        lines.append(f"| {label} ({res['statistical_dimension']:.0f}) | " + " | ".join(row) + " |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> dict:
    return run_and_write("qmc_rule", run, markdown, sweep_parser(__doc__, PROBLEMS).parse_args(argv))


if __name__ == "__main__":
    main()
