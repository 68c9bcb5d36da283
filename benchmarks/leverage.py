"""Leverage-score sampling of random features (issue 3): spectral approximation, approximate
leverage, speed, and (separately) ridge prediction with ``sampling_alpha="auto"``.

Sections (``python benchmarks/leverage.py`` runs 1–4; ``--prediction`` runs 5 only):

1. **spectral**: ε (Eq. 2) of Gaussian sampling over ε of leverage sampling at the regression α
   (``sampling="leverage", sampling_alpha=α``: sampling-importance-resampling from 16·m
   candidates, exact τ), median over 5 seeds, each seed a fresh random row subset:
   diamonds n=1,500 standardized, GaussianKernel σ=sqrt(d), α=0.01; ReLUNTK on the same rows
   made unit-norm, α=0.001; digits n=1,000 unit-norm, ReLUNTK, α=0.01; m ∈ {100, 400, 1600}.
2. **approximate**: the same diamonds/Gaussian problem at m=400; ε of SIR with τ from each
   approximate estimator, and the fraction of the exact method's ε improvement it keeps,
   ``(ε_gauss − ε_approx)/(ε_gauss − ε_exact)`` on the medians over seeds.
3. **speed, exact**: ``ridge_leverage`` for M=20,000 candidates on n=2,000 rows (Cholesky
   included): Gaussian d=6 (diamonds), ReLUNTK d=6 (diamonds, unit-norm), ReLUNTK d=64
   (synthetic unit-norm normal rows: no embedded dataset has 2,000 rows with d=64). A float64
   GEMM of the same flop count as the Gaussian case is timed beside it as a gauge of how much
   of the shared machine the run got.
4. **speed, approximate**: ``method="approximate"`` on flights n=100,000, M=20,000, Gaussian
   σ=sqrt(d), α=0.01, in a fresh subprocess whose peak resident memory is reported.
5. **prediction** (``--prediction``): relative distance ``‖f_RF − f*‖/‖f*‖`` on 1,000 held-out rows
   to the exact KRR predictor f* fitted on 5,000 rows, leverage (default ``sampling_alpha="auto"``)
   vs Gaussian, diamonds and flights, (σ=sqrt(d)/2, α=0.1) and (σ=0.15·sqrt(d), α=0.01),
   m ∈ {64, 256, 1024}, median over 5 seeds.

Writes ``benchmarks/results/leverage.md`` and ``leverage.json`` (the prediction section to
``leverage_prediction.md``/``.json``) and ``docs/img/leverage_tau_vs_norm.png``.
Timings come from a 2-core machine shared with other jobs: they are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import torch

import levrf
from levrf.leverage.approximate import NystromLeverage, SubsampleLeverage, pool_gram_leverage
from levrf.leverage.resampling import inclusion_probabilities, systematic_sample
from levrf.leverage.scores import ExactLeverage

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FIGURE = ROOT / "docs" / "img" / "leverage_tau_vs_norm.png"
SEEDS = 5
MS = (100, 400, 1600)


# ----------------------------------------------------------------------------- helpers
def feature_gram(kernel, X: torch.Tensor, W: torch.Tensor, importance: torch.Tensor, chunk: int = 200):
    """ΨΨᵀ accumulated over chunks of weights (Ψ itself can be large for d2 = d = 64)."""
    m = W.shape[0]
    G = torch.zeros(X.shape[0], X.shape[0], dtype=torch.float64)
    for a in range(0, m, chunk):
        F = kernel.features(X, W[a : a + chunk]) * (importance[a : a + chunk] / math.sqrt(m))[None, :, None]
        F = F.reshape(X.shape[0], -1)
        G += F @ F.T
    return G


def eps_from_gram(L: torch.Tensor, LKL: torch.Tensor, G: torch.Tensor) -> float:
    """ε = max |eig(L⁻¹(ΨΨᵀ − K)L⁻ᵀ)| with L the Cholesky factor of K + αI (Eq. 2)."""
    A = torch.linalg.solve_triangular(L, G, upper=False)
    A = torch.linalg.solve_triangular(L, A.T, upper=False)
    E = A - LKL
    return float(torch.linalg.eigvalsh(0.5 * (E + E.T)).abs().max())


def spectral_setup(K: torch.Tensor, alpha: float):
    L = torch.linalg.cholesky(K + alpha * torch.eye(K.shape[0], dtype=K.dtype))
    B = torch.linalg.solve_triangular(L, K, upper=False)
    return L, torch.linalg.solve_triangular(L, B.T, upper=False)


def sir(tau: torch.Tensor, m: int, gen: torch.Generator):
    """Indices and importance weights of leverage SIR from a scored pool (β = 0), resampled as the
    ``"leverage"`` sampler does (systematic PPS without replacement)."""
    pi = inclusion_probabilities(tau, m)
    idx = systematic_sample(pi, gen)
    return idx, (m / (tau.numel() * pi[idx])).sqrt()


def md_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ----------------------------------------------------------------------------- 1. spectral
SPECTRAL_PROBLEMS = {
    "diamonds, Gaussian σ=sqrt(d), α=0.01": ("diamonds", 1500, "gaussian", 0.01, 2.5),
    "diamonds unit-norm, ReLUNTK, α=0.001": ("diamonds", 1500, "relu_ntk", 0.001, 1.4),
    "digits unit-norm, ReLUNTK, α=0.01": ("digits", 1000, "relu_ntk", 0.01, 0.9),
}


def load_problem(dataset, n, kind, seed):
    X, _ = levrf.datasets.load(dataset, n=n, random_state=seed, unit_norm=(kind == "relu_ntk"))
    X = torch.as_tensor(X)
    kernel = levrf.GaussianKernel(math.sqrt(X.shape[1])) if kind == "gaussian" else levrf.ReLUNTK()
    return X, kernel


def run_spectral(seeds: int = SEEDS) -> dict:
    out = {}
    for label, (dataset, n, kind, alpha, target) in SPECTRAL_PROBLEMS.items():
        per_m = {m: [] for m in MS}
        s_values = []
        for seed in range(seeds):
            X, kernel = load_problem(dataset, n, kind, seed)
            K = kernel(X)
            s_values.append(levrf.statistical_dimension(K, alpha))
            L, LKL = spectral_setup(K, alpha)
            for m in MS:
                eps = {}
                for sampling in ("gaussian", "leverage"):
                    rf = levrf.RandomFeatures(kernel, n_features=m, sampling=sampling, alpha=alpha,
                                              sampling_alpha=alpha, random_state=1000 * seed + m).fit(X.numpy())
                    G = feature_gram(kernel, X, rf.weights_, rf.importance_)
                    eps[sampling] = eps_from_gram(L, LKL, G)
                per_m[m].append((eps["gaussian"], eps["leverage"]))
                print(f"[spectral] {label} seed={seed} m={m} eps_g={eps['gaussian']:.3f} "
                      f"eps_lev={eps['leverage']:.3f}", flush=True)
        out[label] = {
            "target_ratio": target,
            "statistical_dimension_median": statistics.median(s_values),
            "m": {
                m: {
                    "eps_gaussian_median": statistics.median(e[0] for e in v),
                    "eps_leverage_median": statistics.median(e[1] for e in v),
                    "ratio_median": statistics.median(e[0] / e[1] for e in v),
                    "ratios": [round(e[0] / e[1], 3) for e in v],
                }
                for m, v in per_m.items()
            },
        }
    return out


# ----------------------------------------------------------------------------- 2. approximate
APPROX_RANKS = (250, 500, 1000)


def _exact_tau(kernel, X, alpha, pool):
    return ExactLeverage(kernel, X, alpha)(pool)


def _scorer_tau(cls, kernel, X, alpha, pool, rank, seed):
    return cls(kernel, X, alpha, rank=rank, generator=torch.Generator().manual_seed(seed))(pool)


def run_approximate(seeds: int = SEEDS, m: int = 400, pool_gram: bool = False) -> dict:
    alpha, n = 0.01, 1500
    names = ["gaussian", "exact", *(f"subsample r={r}" for r in APPROX_RANKS), "nystrom r=500"]
    if pool_gram:
        names.append("pool_gram (M=16m)")
    eps = {name: [] for name in names}
    times = {name: [] for name in names}
    for seed in range(seeds):
        X, kernel = load_problem("diamonds", n, "gaussian", seed)
        K = kernel(X)
        L, LKL = spectral_setup(K, alpha)
        gen = torch.Generator().manual_seed(seed)
        Wg = kernel.sample(m, X.shape[1], gen)
        ones = torch.ones(m, dtype=torch.float64)
        eps["gaussian"].append(eps_from_gram(L, LKL, feature_gram(kernel, X, Wg, ones)))
        pool = kernel.sample(16 * m, X.shape[1], gen)
        scorers = {"exact": partial(_exact_tau, kernel, X, alpha, pool)}
        for r in APPROX_RANKS:
            scorers[f"subsample r={r}"] = partial(_scorer_tau, SubsampleLeverage, kernel, X, alpha, pool, r, seed)
        scorers["nystrom r=500"] = partial(_scorer_tau, NystromLeverage, kernel, X, alpha, pool, 500, seed)
        if pool_gram:
            scorers["pool_gram (M=16m)"] = partial(pool_gram_leverage, kernel, X, pool, alpha)
        for name, score in scorers.items():
            t = time.perf_counter()
            tau = score()
            times[name].append(time.perf_counter() - t)
            idx, imp = sir(tau, m, torch.Generator().manual_seed(10_000 + seed))  # same draws for all
            eps[name].append(eps_from_gram(L, LKL, feature_gram(kernel, X, pool[idx], imp)))
        print(f"[approximate] seed={seed} " + " ".join(f"{k}={v[-1]:.3f}" for k, v in eps.items()), flush=True)
    med = {k: statistics.median(v) for k, v in eps.items()}
    gain = med["gaussian"] - med["exact"]
    return {
        "m": m,
        "pool": 16 * m,
        "eps_median": med,
        "eps": eps,
        "seconds_median": {k: statistics.median(v) for k, v in times.items() if v},
        "kept_fraction": {k: (med["gaussian"] - v) / gain for k, v in med.items() if k not in ("gaussian",)},
    }


# ----------------------------------------------------------------------------- 3. speed exact
def _timed(fn, repeat: int = 2) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_speed_exact(M: int = 20_000, n: int = 2_000) -> dict:
    rows = {}
    Xg, kg = load_problem("diamonds", n, "gaussian", 0)
    Xr, kr = load_problem("diamonds", n, "relu_ntk", 0)
    g = torch.Generator().manual_seed(0)
    X64 = torch.nn.functional.normalize(torch.randn(n, 64, generator=g, dtype=torch.float64), dim=1)
    cases = {
        "GaussianKernel d=6 (diamonds)": (kg, Xg, 0.01),
        "ReLUNTK d=6 (diamonds, unit-norm)": (kr, Xr, 0.001),
        "ReLUNTK d=64 (synthetic, unit-norm)": (kr, X64, 0.01),
    }
    for label, (kernel, X, alpha) in cases.items():
        W = kernel.sample(M, X.shape[1], 1)
        rows[label] = _timed(lambda kernel=kernel, X=X, W=W, alpha=alpha: levrf.ridge_leverage(kernel, X, W, alpha))
        print(f"[speed] {label}: {rows[label]:.2f} s", flush=True)
    A = torch.randn(n, n, dtype=torch.float64)
    B = torch.randn(n, M, dtype=torch.float64)
    # the Gaussian case solves L⁻¹F with F of n × 2M columns: n²·2M flops, as many as this GEMM
    rows["reference: float64 GEMM (2000×2000)·(2000×20000), same flops as the Gaussian solve"] = _timed(lambda: A @ B)
    return rows


# ----------------------------------------------------------------------------- 4. speed approximate
APPROX_CHILD = """
import resource, sys, time, math, json, torch, levrf
torch.set_num_threads(2)
n, M = int(sys.argv[1]), int(sys.argv[2])
X, _ = levrf.datasets.load("flights", n=n, random_state=0)
k = levrf.GaussianKernel(math.sqrt(X.shape[1]))
W = k.sample(M, X.shape[1], 1)
t = time.perf_counter()
tau = levrf.ridge_leverage(k, X, W, 0.01, method="approximate", random_state=0)
sec = time.perf_counter() - t
print(json.dumps({"seconds": sec, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "mean_tau": float(tau.mean()), "d": X.shape[1]}))
"""


def run_speed_approximate(n: int = 100_000, M: int = 20_000) -> dict:
    res = subprocess.run([sys.executable, "-c", APPROX_CHILD, str(n), str(M)], capture_output=True, text=True,
                         check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"[speed] approximate n={n} M={M}: {out}", flush=True)
    return out


# ----------------------------------------------------------------------------- figure
def tau_figure(path: Path = FIGURE, n: int = 1500, alpha: float = 0.01, samples: int = 4000) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, kernel = load_problem("diamonds", n, "gaussian", 0)
    W = kernel.sample(samples, X.shape[1], 0)
    tau = levrf.ridge_leverage(kernel, X, W, alpha)
    s = levrf.statistical_dimension(kernel(X), alpha)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter(W.norm(dim=1), tau, s=3, alpha=0.35, label="τ_α(w), w ~ p = N(0, I/σ²)")
    ax.axhline(s, color="k", ls="--", lw=1, label=f"mean over p = s_α = {s:.0f}")
    ax.axhline(n / alpha, color="r", ls=":", lw=1, label="n/α (upper bound when λ_min ≈ 0)")
    ax.set_yscale("log")
    ax.set_xlabel("frequency norm ‖w‖")
    ax.set_ylabel("ridge leverage τ_α(w)")
    ax.set_title(f"diamonds (n={n}, standardized), Gaussian σ=√6, α={alpha}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"sup_tau_sampled": float(tau.max()), "statistical_dimension": s,
            "coherence": float(tau.max()) / s}


# ----------------------------------------------------------------------------- 5. prediction
PREDICTION_SETTINGS = ((0.5, 0.1), (0.15, 0.01))  # (σ / sqrt(d), α)
PREDICTION_MS = (64, 256, 1024)


def _rf_predict(kernel, X, y, Xt, m, alpha, sampling, seed, method):
    rf = levrf.RandomFeatures(kernel, n_features=m, sampling=sampling, alpha=alpha,
                              leverage_method=method, random_state=seed).fit(X.numpy())
    P, Pt = torch.as_tensor(rf.transform(X.numpy())), torch.as_tensor(rf.transform(Xt.numpy()))
    A = P.T @ P + alpha * torch.eye(P.shape[1], dtype=torch.float64)
    beta = torch.linalg.solve(A, P.T @ y)
    return Pt @ beta, rf


def run_prediction(datasets=("diamonds", "flights"), seeds: int = SEEDS, method: str = "exact",
                   n_train: int = 5000, n_test: int = 1000) -> dict:
    """Relative distance to the exact KRR predictor; leverage uses the default sampling_alpha="auto"."""
    out = {}
    for dataset in datasets:
        for frac, alpha in PREDICTION_SETTINGS:
            key = f"{dataset}, σ={frac}·sqrt(d), α={alpha}"
            per_m = {m: [] for m in PREDICTION_MS}
            s_values, chosen = [], {m: [] for m in PREDICTION_MS}
            for seed in range(seeds):
                Xa, ya = levrf.datasets.load(dataset, n=n_train + n_test, random_state=seed)
                Xa, ya = torch.as_tensor(Xa), torch.as_tensor(ya, dtype=torch.float64)
                X, y, Xt = Xa[:n_train], ya[:n_train], Xa[n_train:]
                kernel = levrf.GaussianKernel(frac * math.sqrt(X.shape[1]))
                K = kernel(X)
                s_values.append(levrf.statistical_dimension(K, alpha))
                c = torch.linalg.solve(K + alpha * torch.eye(n_train, dtype=torch.float64), y)
                f_star = kernel(Xt, X) @ c
                del K
                for m in PREDICTION_MS:
                    dist = {}
                    for sampling in ("gaussian", "leverage"):
                        f, rf = _rf_predict(kernel, X, y, Xt, m, alpha, sampling, 1000 * seed + m, method)
                        dist[sampling] = float((f - f_star).norm() / f_star.norm())
                        if sampling == "leverage":
                            chosen[m].append((rf.sampling_alpha_, rf.mixture_))
                    per_m[m].append((dist["gaussian"], dist["leverage"]))
                    print(f"[prediction] {key} seed={seed} m={m} gauss={dist['gaussian']:.3f} "
                          f"lev={dist['leverage']:.3f}", flush=True)
            s_med = statistics.median(s_values)
            out[key] = {
                "statistical_dimension_median": s_med,
                "m": {
                    m: {
                        "gaussian_median": statistics.median(v[0] for v in per_m[m]),
                        "leverage_median": statistics.median(v[1] for v in per_m[m]),
                        "sampling_alpha_median": statistics.median(a for a, _ in chosen[m]),
                        "mixture": chosen[m][0][1],
                        "needs_1.3x_better": m >= s_med / 2,
                    }
                    for m in PREDICTION_MS
                },
            }
    return out


def prediction_markdown(res: dict) -> str:
    lines = ["## Leverage sampling: ridge prediction with sampling_alpha=\"auto\"", "",
             "Relative distance ‖f_RF − f*‖/‖f*‖ on 1,000 held-out rows to exact KRR on 5,000 rows, "
             "median of 5 seeds. Criterion: leverage ≤ 1.05 × gaussian everywhere, and gaussian/leverage "
             "≥ 1.3 where m ≥ s_α/2.", ""]
    rows = []
    for key, r in res.items():
        for m, v in r["m"].items():
            ratio = v["gaussian_median"] / v["leverage_median"]
            ok = v["leverage_median"] <= 1.05 * v["gaussian_median"] and (not v["needs_1.3x_better"] or ratio >= 1.3)
            rows.append([key, f"{r['statistical_dimension_median']:.0f}", m, f"{v['gaussian_median']:.3f}",
                         f"{v['leverage_median']:.3f}", f"{ratio:.2f}", f"{v['sampling_alpha_median']:.3g}",
                         f"{v['mixture']:.2f}", "yes" if ok else "**no**"])
    lines.append(md_table(["problem", "s_α", "m", "gaussian", "leverage (auto)", "gauss/lev", "α' used",
                           "β used", "meets"], rows))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- report
def markdown(spectral, approx, speed, speed_approx, figure) -> str:
    L = ["## Leverage sampling (issue 3)", "",
         f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
         "2 cores shared with other jobs while this ran, so every time is pessimistic. "
         "Regenerate with `python benchmarks/leverage.py`.", "",
         "### Spectral approximation at the regression α (Eq. 2)", "",
         "ε_gaussian / ε_leverage, median over 5 seeds (each seed: new rows, new weights); leverage = "
         "`sampling=\"leverage\", sampling_alpha=α` (SIR from 16·m candidates, exact τ).", ""]
    rows = []
    for label, r in spectral.items():
        for m, v in r["m"].items():
            rows.append([label, f"{r['statistical_dimension_median']:.0f}", m, f"{v['eps_gaussian_median']:.3f}",
                         f"{v['eps_leverage_median']:.3f}", f"{v['ratio_median']:.2f}", f"≥ {r['target_ratio']}",
                         "yes" if v["ratio_median"] >= r["target_ratio"] else "**no**"])
    L.append(md_table(["problem", "s_α", "m", "ε gaussian", "ε leverage", "ratio", "target", "meets"], rows))
    L += ["", "### Approximate leverage (diamonds n=1,500, Gaussian σ=sqrt(6), α=0.01, m=400, pool 6,400)", "",
          "ε of SIR with τ from each estimator (same pool and resampling draws per seed), median of 5 seeds; "
          "kept = (ε_gauss − ε)/(ε_gauss − ε_exact) on the medians.", ""]
    rows = [[k, f"{v:.3f}", "—" if k == "gaussian" else f"{approx['kept_fraction'][k]:.2f}",
             "—" if k == "gaussian" else f"{approx['seconds_median'][k]:.2f}"] for k, v in approx["eps_median"].items()]
    L.append(md_table(["τ estimator", "median ε", "kept", "median seconds (pool of 6,400)"], rows))
    L += ["", "### Speed", "",
          md_table(["exact τ, M=20,000 candidates, n=2,000 (Cholesky included)", "seconds", "target"],
                   [[k, f"{v:.2f}", "—" if k.startswith("reference") else "≤ 10"] for k, v in speed.items()]),
          "",
          f"Approximate (`method=\"approximate\"`, row subsample r=2,000 at α·r/n) on flights n=100,000, "
          f"d={speed_approx['d']}, M=20,000: **{speed_approx['seconds']:.1f} s** (target ≤ 60 s), "
          f"peak resident memory of the whole process **{speed_approx['peak_rss_gb']:.2f} GB** (target ≤ 4 GB).",
          "", f"τ(w) vs ‖w‖ figure: `docs/img/{FIGURE.name}`; sampled sup τ / s_α = {figure['coherence']:.1f} "
          f"(s_α = {figure['statistical_dimension']:.0f}).", ""]
    return "\n".join(L)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prediction", action="store_true", help="run only the auto prediction section")
    parser.add_argument("--method", default="exact", help="leverage_method for --prediction")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--pool-gram", action="store_true", help="also time the pool-Gram estimator (slow)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.prediction:
        res = run_prediction(seeds=args.seeds, method=args.method)
        (RESULTS / "leverage_prediction.json").write_text(json.dumps(res, indent=1, default=str))
        (RESULTS / "leverage_prediction.md").write_text(prediction_markdown(res))
        print(prediction_markdown(res))
        return
    figure = tau_figure()
    speed = run_speed_exact()
    speed_approx = run_speed_approximate()
    approx = run_approximate(seeds=args.seeds, pool_gram=args.pool_gram)
    spectral = run_spectral(seeds=args.seeds)
    result = {"spectral": spectral, "approximate": approx, "speed_exact": speed,
              "speed_approximate": speed_approx, "figure": figure}
    (RESULTS / "leverage.json").write_text(json.dumps(result, indent=1, default=str))
    text = markdown(spectral, approx, speed, speed_approx, figure)
    (RESULTS / "leverage.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
