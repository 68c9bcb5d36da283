"""One gradient-descent step of ``TwoLayerReLU`` against the two matmuls it needs, and the full width sweep.

Step (issue 5): n = 1,000 training rows, d = 64, width m = 16,384, float64. A step of
``levrf.nn.train_regularized`` is timed as ``(time(k + 1 steps) − time(1 step)) / k`` (all of its
Python overhead included); the peer is the pair of matmuls of that shape that any step must do,
``X Wᵀ`` (n×d by d×m) and ``Zᵀ S`` (d×n by n×m), on preallocated outputs, in the same process.
Target: step ≤ 2 × matmuls.

``--sweep`` also runs the full width sweep of the tests (widths 2^8..2^14, 3 seeds, Gaussian and
leverage initialization, n = 64 unit-norm points in d = 8): the paper's penalty stopped at the
theorem's T (Theorems 3.6, 3.7, 3.9), and the penalty toward W(0) at convergence.

``--experiment`` runs ``levrf.experiments.equivalence.run_equivalence()`` at its defaults
(diamonds, n = 300, widths 2^6..2^14, 2 seeds) and stores ``nn_equivalence.json``/``.png``; the
Markdown includes that experiment's summary whenever the JSON is present.

Usage::

    python benchmarks/nn_step.py                 # step timing only (~1 min)
    python benchmarks/nn_step.py --sweep         # plus the full sweep (~2 min on one core)
    python benchmarks/nn_step.py --experiment    # plus the diamonds experiment (~45 min on one core)

Writes ``benchmarks/results/nn.md`` (and ``nn.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import levrf
from levrf.experiments.equivalence import EquivalenceResult, loglog_slope, run_equivalence, width_sweep
from levrf.nn import TwoLayerReLU, stopping_time, train_regularized

RESULTS = Path(__file__).parent / "results"
EXPERIMENT_JSON = RESULTS / "nn_equivalence.json"
TARGET_RATIO = 2.0


def time_step(n: int, d: int, m: int, repeats: int, steps: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.randn(n, generator=gen, dtype=torch.float64)
    net = TwoLayerReLU(d, m, random_state=1)

    def run(k: int) -> float:
        start = time.perf_counter()
        train_regularized(net, X, y, 1e-3, steps=k, lr=1e-3, record_every=10**9, track_kernel=False, quiet=True)
        return time.perf_counter() - start

    W = net.weight.detach()
    P = torch.empty((n, m), dtype=torch.float64)
    S = torch.rand((n, m), generator=gen, dtype=torch.float64).round()
    G = torch.empty((d, m), dtype=torch.float64)
    Z = X.T.contiguous()

    def matmuls() -> float:
        start = time.perf_counter()
        torch.matmul(X, W.T, out=P)
        torch.matmul(Z, S, out=G)
        return time.perf_counter() - start

    run(1), matmuls()  # warm up
    step_times, mm_times = [], []
    for _ in range(repeats):  # interleaved, so that load from other processes hits both alike
        step_times.append((run(steps + 1) - run(1)) / steps)
        mm_times.append(statistics.median(matmuls() for _ in range(steps)))
    step, mm = statistics.median(step_times), statistics.median(mm_times)
    return {"n": n, "d": d, "width": m, "threads": torch.get_num_threads(), "step_s": step,
            "matmuls_s": mm, "ratio": step / mm, "target": TARGET_RATIO, "ok": step / mm <= TARGET_RATIO}


def problem(n: int = 64, d: int = 8, n_test: int = 128, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n + n_test, d, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.sin(3 * X[:, 0]) + 4 * X[:, 1] * X[:, 2] + 0.3 * torch.randn(n + n_test, generator=g, dtype=torch.float64)
    return X[:n], y[:n], X[n:]


def full_sweep(widths=(2**8, 2**10, 2**12, 2**14), seeds: int = 3) -> dict:
    """The test-suite sweep at full width, both regimes."""
    X, y, Xt = problem()
    ev = torch.linalg.eigvalsh(levrf.ReLUNTK()(X))
    lam0, lam_max = float(ev[0]), float(ev[-1])
    inits = ("gaussian", "leverage") if "leverage" in levrf.leverage.SAMPLERS else ("gaussian",)
    out = {"widths": list(widths), "seeds": seeds, "lambda0": lam0, "regimes": {}}
    for name, penalty, alpha, eps in (("paper penalty, stopped at T", "origin", 0.01 * lam0, 1e-3),
                                      ("penalty toward W(0), at convergence", "init", lam0, 1e-6)):
        lr = 1.0 / (1.2 * lam_max + alpha)
        steps = math.ceil(stopping_time(eps, lam0, 1.0, alpha) / lr)
        start = time.perf_counter()
        res = width_sweep(X, y, Xt, widths=widths, seeds=seeds, inits=inits, penalty=penalty,
                          alpha=alpha, steps=steps, lr=lr, symmetric=True, quiet=False)
        entry = {"penalty": penalty, "alpha": alpha, "epsilon": eps, "steps": steps, "lr": lr,
                 "seconds": time.perf_counter() - start, "inits": {}}
        for init in inits:
            entry["inits"][init] = {
                k: {"median": [float(np.median(r)) for r in res[k][init]], "slope": loglog_slope(widths, res[k][init])}
                for k in ("train_gap", "test_gap", "kernel_drift", "spectral_error")
            }
        out["regimes"][name] = entry
    return out


def experiment_markdown(result: EquivalenceResult, seconds: float | None = None) -> list[str]:
    """Median gaps and spectral errors per regime, init and width, and the summary."""
    took = f", {seconds / 60:.0f} min" if seconds else ""
    lines = ["## nn: equivalence experiment (`python benchmarks/nn_step.py --experiment`)", "",
             f"{result.dataset}, n = {result.n} unit-norm rows (+{result.n_test} test rows), kernel "
             f"{result.kernel}, symmetric init, medians over {result.seeds} seeds{took}. "
             f"PNG: `nn_equivalence.png`.", ""]
    widths = result.widths
    for regime, info in result.regimes.items():
        lines += [f"**{regime}** (penalty {info['penalty']}, α = {info['alpha']:.3g}, "
                  f"s_α(H^cts) = {info['statistical_dimension']:.1f}, Λ0 = {info['lambda0']:.2g}, "
                  f"{info['steps']} steps of η = {info['lr']:.3g})", "",
                  "| init | metric | " + " | ".join(f"m = {m}" for m in widths) + " | slope |",
                  "|---|---|" + "---:|" * (len(widths) + 1)]
        for init in result.inits:
            for k in ("train_gap", "test_gap", "spectral_error", "kernel_drift"):
                lines.append(f"| {init} | {k} | " + " | ".join(f"{x:.4f}" for x in result.median(k, regime, init))
                             + f" | {result.slope(k, regime, init):.2f} |")
        lines.append("")
    lines += [f"Smallest width with median gap ≤ {result.threshold:g} (train / test):", ""]
    for regime, per_init in result.summary().items():
        for init, s in per_init.items():
            lines.append(f"- {regime}, {init}: {s['smallest_width_train']} / {s['smallest_width_test']}")
    return lines + [""]


def markdown(step: dict, sweep: dict | None) -> str:
    lines = [
        "## nn: gradient-descent step of TwoLayerReLU (`python benchmarks/nn_step.py`)",
        "",
        f"n = {step['n']}, d = {step['d']}, width m = {step['width']}, float64, {step['threads']} thread(s), CPU.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| one step of `train_regularized` (forward, gradient, update) | {step['step_s']:.4f} |",
        f"| the two matmuls of that shape (X Wᵀ and Zᵀ S, preallocated) | {step['matmuls_s']:.4f} |",
        f"| **ratio** (target ≤ {step['target']:g}) | **{step['ratio']:.2f}** |",
        "",
    ]
    if sweep:
        lines += ["## nn: full width sweep (`python benchmarks/nn_step.py --sweep`)", "",
                  f"n = 64 unit-norm points in d = 8, 128 test points, Λ0 = {sweep['lambda0']:.4f}, "
                  f"symmetric initialization, medians over {sweep['seeds']} seeds; slope = least-squares "
                  "log-log slope against width (criterion ≤ −0.3).", ""]
        widths = sweep["widths"]
        for name, entry in sweep["regimes"].items():
            lines += [f"**{name}** (α = {entry['alpha']:.3g}, {entry['steps']} steps, "
                      f"{entry['seconds']:.0f} s)", "",
                      "| init | metric | " + " | ".join(f"m = {m}" for m in widths) + " | slope |",
                      "|---|---|" + "---:|" * (len(widths) + 1)]
            for init, metrics in entry["inits"].items():
                for k, v in metrics.items():
                    lines.append(f"| {init} | {k} | " + " | ".join(f"{x:.4f}" for x in v["median"])
                                 + f" | {v['slope']:.2f} |")
            lines.append("")
    if EXPERIMENT_JSON.exists():
        lines += experiment_markdown(EquivalenceResult.from_json(EXPERIMENT_JSON))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also run the full 2^8..2^14 width sweep")
    parser.add_argument("--experiment", action="store_true", help="also run the diamonds equivalence experiment")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    step = time_step(1000, 64, 16384, args.repeats, args.steps)
    print(f"step {step['step_s']:.4f} s, matmuls {step['matmuls_s']:.4f} s, ratio {step['ratio']:.2f}")
    sweep = full_sweep() if args.sweep else None
    RESULTS.mkdir(exist_ok=True)
    if args.experiment:
        result = run_equivalence()
        result.to_json(EXPERIMENT_JSON)
        result.plot(RESULTS / "nn_equivalence.png")
    elif sweep is None and (RESULTS / "nn.json").exists():  # keep the last sweep in the report
        sweep = json.loads((RESULTS / "nn.json").read_text()).get("sweep")
    (RESULTS / "nn.md").write_text(markdown(step, sweep) + "\n")
    (RESULTS / "nn.json").write_text(json.dumps({"step": step, "sweep": sweep}, indent=2))
    print(markdown(step, sweep))
    return 0 if step["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
