"""Where should ``sampling_alpha="auto"`` switch from p to leverage sampling? A sweep in m / s_α.

For a few Gaussian-kernel ridge problems (2,000 training rows, 1,000 held-out rows, exact KRR as the
reference f*), the script fits ``RandomFeatureRidge`` with m = k·s_α weights for k from 1 to 12:

* ``gaussian``: m weights from p;
* ``leverage β``: the leverage sampler at the regression α with the defensive mixture
  ``(1 − β)·q_α + β·p`` forced (the rule bypassed), for each β in ``--mixtures``.

It reports the relative distance ``‖f − f*‖/‖f*‖`` on the held-out rows, averaged over seeds, and the
ratio leverage/gaussian with its standard error (delta method on the two independent means).
The auto rule (``levrf.leverage.auto``) takes its switch from this table: leverage is used only
where every problem's ratio is ≤ 1 within noise.

Usage::

    python benchmarks/auto_rule.py                          # 10 seeds, about 20 minutes on 2 cores
    python benchmarks/auto_rule.py --seeds 2 --max-m 200    # a smoke run

Writes ``benchmarks/results/auto_rule.md`` and ``auto_rule.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import levrf
from levrf.leverage import auto

RESULTS = Path(__file__).parent / "results"

#: label → (dataset, bandwidth σ as a multiple of sqrt(d) or absolute, α); the first two are
#: benchmarks/krr.py's smooth settings, the last docs/leverage.md's exploration setting
PROBLEMS = {
    "diamonds σ=2, α=1": ("diamonds", 2.0, False, 1.0),
    "flights σ=4, α=0.01": ("flights", 4.0, False, 0.01),
    "diamonds σ=0.5√d, α=0.1": ("diamonds", 0.5, True, 0.1),
}
RATIOS = (1, 2, 3, 4, 6, 8, 12)


def load(dataset: str, n_train: int, n_test: int):
    X, y = levrf.datasets.load(dataset, n=n_train + n_test, random_state=0)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def exact_predictor(kernel, X, y, Xt, alpha):
    K = torch.as_tensor(kernel(torch.as_tensor(X)))
    s = levrf.statistical_dimension(K, alpha)
    f = levrf.KernelRidge(kernel, alpha=alpha, fit_intercept=False).fit(X, y).predict(Xt)
    return f, float(s)


def forced(beta: float):
    """Replace the auto rule by 'leverage at α with mixture β' for the duration of a fit."""
    return mock.patch.object(
        auto, "auto_sampling_parameters", lambda m, alpha, s, n: auto.SamplingParameters(alpha=alpha, mixture=beta)
    )


def distance(kernel, X, y, Xt, f_star, m, alpha, sampling, seed) -> float:
    model = levrf.RandomFeatureRidge(kernel, n_features=m, sampling=sampling, alpha=alpha, random_state=seed,
                                     fit_intercept=False)
    f = model.fit(X, y).predict(Xt)
    return float(np.linalg.norm(f - f_star) / np.linalg.norm(f_star))


def ratio_with_se(lev: list[float], gau: list[float]) -> tuple[float, float]:
    a, b = np.mean(lev), np.mean(gau)
    sa, sb = np.std(lev, ddof=1) / math.sqrt(len(lev)), np.std(gau, ddof=1) / math.sqrt(len(gau))
    r = a / b
    return float(r), float(r * math.sqrt((sa / a) ** 2 + (sb / b) ** 2))


def run(args) -> dict:
    out = {}
    for label in args.problems:
        dataset, sigma, scaled, alpha = PROBLEMS[label]
        X, y, Xt, _ = load(dataset, args.n_train, args.n_test)
        kernel = levrf.GaussianKernel(sigma * math.sqrt(X.shape[1]) if scaled else sigma)
        f_star, s = exact_predictor(kernel, X, y, Xt, alpha)
        print(f"== {label}: s_α = {s:.0f}", flush=True)
        cells = {}
        for k in RATIOS:
            m = max(1, round(k * s))
            if m > args.max_m:
                continue
            res = {"gaussian": [distance(kernel, X, y, Xt, f_star, m, alpha, "gaussian", seed) for seed in range(args.seeds)]}
            for beta in args.mixtures:
                with forced(beta):
                    res[f"leverage β={beta}"] = [
                        distance(kernel, X, y, Xt, f_star, m, alpha, "leverage", seed) for seed in range(args.seeds)
                    ]
            cells[k] = {"m": m, "distances": res}
            line = " ".join(
                f"{key}: {np.mean(v):.4f}" + ("" if key == "gaussian" else " (×{:.2f} ± {:.2f})".format(*ratio_with_se(v, res["gaussian"])))
                for key, v in res.items()
            )
            print(f"   k={k:2d} m={m:5d}  {line}", flush=True)
        out[label] = {"statistical_dimension": s, "cells": cells}
    return out


def markdown(out: dict, args, seconds: float) -> str:
    keys = ["gaussian"] + [f"leverage β={b}" for b in args.mixtures]
    lines = [
        "## Where `sampling_alpha=\"auto\"` switches to leverage (`benchmarks/auto_rule.py`)",
        "",
        f"Command: `python benchmarks/auto_rule.py --seeds {args.seeds} --max-m {args.max_m}`; {args.n_train:,} training / {args.n_test:,} "
        f"held-out rows, exact KRR as f*, {args.seeds} seeds per cell, {seconds:.0f} s. Cells: mean relative distance "
        "‖f − f*‖/‖f*‖ on the held-out rows; for leverage also the ratio to gaussian ± its standard error "
        "(< 1: leverage better). Leverage is forced at the regression α with mixture β (the rule bypassed).",
        "",
    ]
    for label, res in out.items():
        lines += [f"### {label} (s_α = {res['statistical_dimension']:.0f})", "",
                  "| m / s_α | m | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
        for k, cell in res["cells"].items():
            d = cell["distances"]
            row = [f"{np.mean(d['gaussian']):.4f}"]
            for key in keys[1:]:
                r, se = ratio_with_se(d[key], d["gaussian"])
                row.append(f"{np.mean(d[key]):.4f} (×{r:.2f} ± {se:.2f})")
            lines.append(f"| {k} | {cell['m']} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def sweep_parser(doc: str, problems) -> argparse.ArgumentParser:
    """The options every m / s_α sweep shares: seeds, split sizes, problems."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--problems", nargs="+", default=list(problems), choices=list(problems), metavar="PROBLEM")
    return parser


def run_and_write(stem: str, run_fn, markdown_fn, args) -> dict:
    """Run a sweep, write ``results/<stem>.md`` and ``.json``, print the table."""
    t0 = time.perf_counter()
    out = run_fn(args)
    text = markdown_fn(out, args, time.perf_counter() - t0)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(text)
    return out


def main(argv=None) -> dict:
    parser = sweep_parser(__doc__, PROBLEMS)
    parser.add_argument("--max-m", type=int, default=2000, help="skip cells with more weights than this")
    parser.add_argument("--mixtures", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    return run_and_write("auto_rule", run, markdown, parser.parse_args(argv))


if __name__ == "__main__":
    main()
