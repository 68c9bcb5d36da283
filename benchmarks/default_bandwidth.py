"""Which rule should ``bandwidth="auto"`` follow? Test R² of each candidate rule against a tuned bandwidth.

For four real tables — ``diamonds`` and ``flights`` (``levrf.datasets``), ``census2000``
(wooldridge) and ``CPSSW8`` (AER), read as in ``benchmarks/approximation.py`` — a seeded
subsample of training and test rows, and for the Gaussian, Laplacian and Matérn (ν = 1.5)
kernels, the script fits ``make_pipeline(StandardScaler(), RandomFeatureRidge(kernel(σ),
n_features=512))`` (default α = 1) with σ from each candidate rule, computed on the
standardized training rows:

- ``median``: the median pairwise distance (L2; L1 for the Laplacian) of ≤ 1,000 rows;
- ``median/√2`` (``median/2`` for the Laplacian);
- ``√d`` (``d`` for the Laplacian, its L1 analogue) and ``√(d/2)`` (``d/2``): scale rules of
  standardized data; ``√(d/2)`` is scikit-learn's ``gamma="scale"`` for the RBF kernel;
- ``1``: the former default.

The reference is a tuned bandwidth: the σ of a grid ``2^(k/2)·s`` (k = -4..4, s = √d, or d for
the Laplacian) and the α of ``logspace(-3, 2, 6)`` with the smallest leave-one-out error of
``RandomFeatureRidgeCV`` (same features seed), scored on the test rows. Accuracy only; no
timings (the machine is shared).

Usage::

    python benchmarks/default_bandwidth.py [--train 3000] [--test 3000]

Writes ``benchmarks/results/default_bandwidth.md`` atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import levrf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from approximation import TABLES, load_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KERNELS = {
    "gaussian": lambda s: levrf.GaussianKernel(s),
    "laplacian": lambda s: levrf.LaplacianKernel(s),
    "matern1.5": lambda s: levrf.MaternKernel(1.5, s),
}
ALPHAS = np.logspace(-3, 2, 6)
GRID = 2.0 ** (np.arange(-4, 5) / 2.0)


def median_distance(X: np.ndarray, p: int, rows: int = 1000) -> float:
    """Median pairwise Lp distance (p = 1 or 2) of the first ``rows`` rows (already shuffled)."""
    S = X[:rows]
    i, j = np.triu_indices(S.shape[0], k=1)
    diff = np.abs(S[i] - S[j])
    return float(np.median(diff.sum(1) if p == 1 else np.sqrt((diff * diff).sum(1))))


def rules(kernel: str, X: np.ndarray) -> dict[str, float]:
    d = X.shape[1]
    if kernel == "laplacian":
        med = median_distance(X, 1)
        return {"median": med, "median/2": med / 2, "d": float(d), "d/2": d / 2, "1": 1.0}
    med = median_distance(X, 2)
    return {"median": med, "median/√2": med / np.sqrt(2), "√d": np.sqrt(d), "√(d/2)": np.sqrt(d / 2), "1": 1.0}


def r2(model, X, y, Xt, yt) -> float:
    return float(model.fit(X, y).score(Xt, yt))


def run(n_train: int, n_test: int, seed: int) -> list[str]:
    lines = []
    for table in TABLES:
        X, y = load_table(table)
        rng = np.random.default_rng(seed)
        idx = rng.permutation(X.shape[0])[: n_train + n_test]
        X, y = X[idx], y[idx]
        Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        Z = StandardScaler().fit_transform(Xtr)
        d = X.shape[1]
        lines += [f"### {table} (d = {d}, {n_train} training / {n_test} test rows)", ""]
        for kernel, make in KERNELS.items():
            found = rules(kernel, Z)
            scores = {
                name: r2(make_pipeline(StandardScaler(), levrf.RandomFeatureRidge(
                    make(sigma), n_features=512, random_state=seed)), Xtr, ytr, Xte, yte)
                for name, sigma in found.items()
            }
            base = float(d) if kernel == "laplacian" else float(np.sqrt(d))
            best = None
            for sigma in GRID * base:
                cv = levrf.RandomFeatureRidgeCV(make(float(sigma)), alphas=ALPHAS, n_features=512, random_state=seed)
                model = make_pipeline(StandardScaler(), cv).fit(Xtr, ytr)
                mse = float(cv.cv_mse_.min())
                if best is None or mse < best[0]:
                    best = (mse, float(sigma), cv.alpha_, float(model.score(Xte, yte)))
            header = " | ".join(f"{name} (σ={sigma:.3g})" for name, sigma in found.items())
            lines += [f"**{kernel}** — tuned: σ={best[1]:.3g}, α={best[2]:g}, test R² = {best[3]:.4f}", "",
                      f"| rule | {header} |", "|---|" + "---|" * len(found),
                      "| test R² (α=1) | " + " | ".join(f"{s:.4f}" for s in scores.values()) + " |",
                      "| ÷ tuned R² | " + " | ".join(f"{s / best[3]:.3f}" for s in scores.values()) + " |", ""]
            print("\n".join(lines[-6:]), flush=True)
    return lines


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "default_bandwidth.md")
    args = parser.parse_args()
    lines = run(args.train, args.test, args.seed)
    head = [
        "## Default bandwidth rules vs a tuned bandwidth (`benchmarks/default_bandwidth.py`)", "",
        f"Command: `python benchmarks/default_bandwidth.py --train {args.train} --test {args.test} "
        f"--seed {args.seed}`. Model: `make_pipeline(StandardScaler(), RandomFeatureRidge(kernel(σ), "
        "n_features=512))`, α = 1; σ from each rule on the standardized training rows. Tuned: σ ∈ "
        "2^(k/2)·√d (Laplacian: ·d), k = -4..4, and α ∈ logspace(-3, 2, 6) chosen by leave-one-out "
        "(RandomFeatureRidgeCV). Accuracy only.", "",
    ]
    write_atomic(args.output, "\n".join(head + lines) + "\n")


if __name__ == "__main__":
    main()
