"""``levrf demo``: small versions of the experiments on the default dataset, as a Markdown report.

Every section of the report states its settings, gives its numbers in a table and one
interpretation that is generated from those numbers (:func:`describe_change` and friends), so
the words cannot contradict the table they sit under.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .experiments import EXPERIMENTS
from .experiments.base import write_atomic

#: the quick demo (``levrf demo``): about a minute and a half on a loaded 2-core machine
DEMO_SETTINGS: dict[str, dict] = {
    "approx": {"dataset": "diamonds", "n": 800, "alpha": 0.01, "features": (25, 50, 100, 200, 400),
               "samplers": ("gaussian", "leverage"), "seeds": 5},
    "leverage_profile": {"dataset": "diamonds", "n": 1000, "alpha": 0.01, "samples": 2000},
    # α = 0.3 puts 2·s_α ≈ 190 inside the m range, so both branches of the auto rule show
    "krr": {"dataset": "diamonds", "n": 1000, "n_test": 1000, "alpha": 0.3, "features": (16, 32, 64, 128, 256, 512),
            "seeds": 2},
    # the paper's penalty needs thousands of GD steps on diamonds (Λ0 ≈ 1e-3): few rows, narrow nets
    "equivalence": {"dataset": "diamonds", "n": 200, "n_test": 100, "features": (32, 128, 512), "seeds": 1,
                    "epsilon": 0.1},
}
#: ``levrf demo --full``: the experiments at the sizes of docs/RESULTS.md (the equivalence sweep
#: alone takes about 40 minutes on one core)
FULL_SETTINGS: dict[str, dict] = {
    "approx": {"dataset": "diamonds", "n": 1500, "alpha": 0.01, "features": (100, 200, 400, 800, 1600),
               "samplers": ("gaussian", "leverage"), "seeds": 10},
    "leverage_profile": {"dataset": "diamonds", "n": 1500, "alpha": 0.01, "samples": 4000},
    "krr": {"dataset": "diamonds", "n": 3000, "n_test": 1000, "alpha": 0.1,
            "features": (16, 32, 64, 128, 256, 512, 1024), "seeds": 3},
    "equivalence": {"quick": False},
}
#: torch and BLAS threads for the quick demo: its matrices are small, and on a shared 2-core
#: machine a second thread made the network training about 15× slower (95 s instead of about 6 s)
DEMO_THREADS = 1

DEMO_TEXT = {
    "approx": "Spectral error ε of Eq. 2 against the number of random weights m: how close "
              "ΨΨᵀ + αI is to K + αI in the spectral sense, for weights sampled from p and by "
              "leverage (Def. 3.1, at the regression α).",
    "leverage_profile": "The ridge leverage τ_α(w) (Def. 3.1) of weights drawn from p, against their "
                        "frequency norm. Leverage sampling can only help where τ is far from flat.",
    "krr": "Kernel ridge regression on held-out rows: test RMSE against the feature dimension and "
           "against wall time, for levrf's samplers and scikit-learn's RBFSampler and Nystroem "
           "(each + Ridge); the dashed line is exact KRR.",
    "equivalence": "A regularized two-layer ReLU network trained by gradient descent against its NTK "
                   "ridge-regression twin u* = κ²H(κ²H + αI)⁻¹y (Theorems 3.6, 3.7, 3.9), for "
                   "Gaussian and leverage initialization.",
}


# ----------------------------------------------------------------------------- sentences
def fmt(value: float) -> str:
    """Three significant digits (the precision of every number in the report's prose)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3g}"


def describe_change(quantity: str, start: float, end: float, span: str) -> str:
    """``"<quantity> fell from a to b (−x%) over <span>"``, or ``rose``/``did not change``.

    "fell" is said exactly when ``end < start`` and "rose" exactly when ``end > start``, with
    the relative change written out so that a reader sees how much.
    """
    if not (math.isfinite(start) and math.isfinite(end)):
        return f"{quantity} could not be compared over {span} ({fmt(start)} → {fmt(end)})"
    if end < start:
        drop = 100.0 * (start - end) / start if start else math.inf
        return f"{quantity} fell from {fmt(start)} to {fmt(end)} (−{drop:.0f}%) over {span}"
    if end > start:
        rise = 100.0 * (end - start) / start if start else math.inf
        return f"{quantity} did not shrink: it rose from {fmt(start)} to {fmt(end)} (+{rise:.0f}%) over {span}"
    return f"{quantity} did not change over {span} ({fmt(start)})"


def is_monotone_decreasing(values) -> bool:
    """True when every value is ≤ the one before it."""
    v = np.asarray(values, dtype=float)
    return bool(np.all(np.diff(v) <= 0))


def span_label(values, unit: str) -> str:
    """``"16× <unit>"`` for the ratio of the last to the first value."""
    return f"{values[-1] / values[0]:g}× {unit}"


def markdown_table(head: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---:"] * len(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- sections
def approx_section(result) -> tuple[str, str]:
    """Settings + table, and the interpretation of the ε-vs-m experiment."""
    samplers = list(result.samplers)
    med = {s: result.median(s) for s in samplers}
    quart = {s: result.quartiles(s) for s in samplers}
    head = ["m"] + [f"ε {s}: median (quartiles)" for s in samplers]
    both = "gaussian" in med and "leverage" in med
    if both:
        head.append("gaussian / leverage")
    rows = []
    for i, m in enumerate(result.features):
        row = [str(m)] + [f"{med[s][i]:.3f} ({quart[s][0][i]:.3f}–{quart[s][1][i]:.3f})" for s in samplers]
        if both:
            row.append(f"{med['gaussian'][i] / med['leverage'][i]:.2f}")
        rows.append(row)
    settings = (f"**Settings.** {result.dataset}, n = {result.n} rows, kernel `{result.kernel}`, "
                f"α = {result.alpha:g} (s_α = {result.statistical_dimension:.1f}), m = "
                f"{', '.join(str(m) for m in result.features)}, {result.seeds} seeds per m; `gaussian` samples "
                "from p, `leverage` by exact τ at `sampling_alpha = α` (the paper's q_α, no mixture with p).")
    certified = [(m, e) for m, e in zip(result.features, result.certified_epsilon(), strict=True) if e is not None]
    bound = (f"Theorem 3.3 (exact leverage, δ = {result.delta:g}) asks for m ≥ {result.bound_features(0.49):,} "
             f"features for ε = 0.49 and {result.bound_features(0.25):,} for ε = 0.25; ")
    if certified:
        bound += ("it certifies ε ≤ " + ", ".join(f"{e:.2f} at m = {m}" for m, e in certified)
                  + " (it covers ε < 1/2 only).")
    else:
        bound += ("every m here is below that, so the theorem certifies no ε at these m (it covers "
                  "ε < 1/2 only).")
    return f"{settings}\n\n{markdown_table(head, rows)}\n\n{bound}", approx_sentence(result)


def approx_sentence(result) -> str:
    parts = []
    med = {s: result.median(s) for s in result.samplers}
    span = span_label(result.features, "more features")
    if "gaussian" in med and "leverage" in med:
        ratio = np.asarray(med["gaussian"]) / np.asarray(med["leverage"])
        wins = int(np.sum(ratio > 1))
        parts.append(f"Leverage sampling had the smaller median ε at {wins} of {len(ratio)} values of m "
                     f"(gaussian/leverage ratio {ratio.min():.2f}–{ratio.max():.2f})")
    for s, values in med.items():
        text = describe_change(f"the {s} median", values[0], values[-1], span)
        if not is_monotone_decreasing(values):
            q1, q3 = result.quartiles(s)
            widest = int(np.argmax(np.asarray(q3) / np.asarray(q1)))
            text += (f", but not monotonically ({', '.join(f'{v:.2f}' for v in values)}): with "
                     f"{result.seeds} seeds the median of this widely spread error is noisy (quartiles "
                     f"{q1[widest]:.2f}–{q3[widest]:.2f} at m = {result.features[widest]})")
        parts.append(text)
    return "; ".join(parts) + "."


def leverage_profile_section(result) -> tuple[str, str]:
    tau = np.asarray(result.tau, dtype=float)
    s = result.statistical_dimension
    se = tau.std(ddof=1) / math.sqrt(tau.size)
    flat = float(np.mean((tau >= 0.75 * s) & (tau <= 1.25 * s)))
    rho = spearman(result.x, tau)
    settings = (f"**Settings.** {result.dataset}, n = {result.n} rows, kernel `{result.kernel}`, "
                f"α = {result.alpha:g}; {tau.size:,} weights drawn from p (random_state = {result.seed}), each scored exactly.")
    head = ["s_α", "mean τ (± s.e.)", "median τ", "sup τ", "sup τ / s_α", "share with τ in 0.75–1.25·s_α",
            f"Spearman ρ({short_label(result.x_label)}, τ)"]
    rows = [[f"{s:.2f}", f"{tau.mean():.2f} ± {se:.2f}", f"{np.median(tau):.2f}", f"{result.sup_tau:.1f}",
             f"{result.coherence:.2f}", f"{100 * flat:.0f}%", f"{rho:.2f}"]]
    return f"{settings}\n\n{markdown_table(head, rows)}", leverage_profile_sentence(result, rho, se)


def short_label(axis_label: str) -> str:
    """An axis label without its units in parentheses."""
    return axis_label.split(" (")[0]


def spearman(x, y) -> float:
    """Spearman rank correlation (ties broken by order; the draws are continuous)."""
    rx = np.argsort(np.argsort(np.asarray(x, dtype=float)))
    ry = np.argsort(np.argsort(np.asarray(y, dtype=float)))
    return float(np.corrcoef(rx, ry)[0, 1])


def leverage_profile_sentence(result, rho: float, se: float) -> str:
    tau = np.asarray(result.tau, dtype=float)
    c = result.coherence
    shape = ("far from flat, so leverage sampling can save features (Theorem 3.3's envelope mass is "
             "sup τ for sampling from p against s_α for leverage)" if c >= 2
             else "nearly flat, so leverage sampling has little to gain over p")
    z = abs(tau.mean() - result.statistical_dimension) / se
    trend = "grows" if rho > 0 else "falls"
    return (f"sup τ / s_α = {c:.1f}: τ is {shape}; τ {trend} with the {short_label(result.x_label)} "
            f"(Spearman ρ = {rho:.2f}), and its mean is {z:.1f} standard errors from s_α, as Eq. 4 says it "
            f"should be on average.")


def krr_section(result) -> tuple[str, str]:
    methods = list(result.methods)
    choices = result.sampling_choice.get("levrf leverage")
    head = ["D"] + methods + (["levrf leverage drew from"] if choices else [])
    rows = []
    for i, m in enumerate(result.features):
        row = [str(2 * m)] + [f"{result.median(result.rmse, k)[i]:.4f}" for k in methods]
        if choices:
            row.append(choice_label(choices[i]))
        rows.append(row)
    settings = (f"**Settings.** {result.dataset}, n_train = {result.n_train}, n_test = {result.n_test} held-out "
                f"rows, kernel `{result.kernel}`, α = {result.alpha:g}, D = "
                f"{', '.join(str(2 * m) for m in result.features)} features (m = D/2 weights, cos and sin), "
                f"{result.seeds} seeds, median test RMSE; `levrf leverage` is `sampling=\"leverage\"` with the "
                f"default `sampling_alpha=\"auto\"`. Exact KRR: RMSE {result.exact_rmse:.4f} in "
                f"{result.exact_seconds:.1f} s.")
    return f"{settings}\n\n{markdown_table(head, rows)}", krr_sentence(result)


def choice_label(choice: dict | None) -> str:
    """``p (i.i.d.)``, ``p (QMC)`` or ``0.5·q_α + 0.5·p`` for one recorded auto-rule decision."""
    if not choice:
        return "?"
    if choice["source"].startswith("p"):
        return choice["source"]
    beta = choice["mixture"]
    return f"{1 - beta:g}·q_α + {beta:g}·p"


def krr_sentence(result) -> str:
    parts = []
    choices = result.sampling_choice.get("levrf leverage")
    if choices and all(choices):
        s = next(c["statistical_dimension"] for c in choices if c["statistical_dimension"])
        from_p = [2 * m for m, c in zip(result.features, choices, strict=True) if c["source"].startswith("p")]
        mixed = [(2 * m, c["mixture"]) for m, c in zip(result.features, choices, strict=True)
                 if not c["source"].startswith("p")]
        text = f"The auto rule compares m with 2·s_α ≈ {2 * s:.0f} (s_α = {s:.1f} on the training rows): "
        if from_p:
            same = [2 * m for i, m in enumerate(result.features)
                    if "levrf gaussian" in result.rmse and np.allclose(result.rmse["levrf leverage"][i],
                                                                       result.rmse["levrf gaussian"][i],
                                                                       rtol=1e-12, atol=0.0)]
            text += f"at D = {', '.join(map(str, from_p))} it sampled from p"
            if same:
                text += (f" (i.i.d. there is the Gaussian sampler's draw, so `levrf leverage` lies exactly on "
                         f"`levrf gaussian` at D = {', '.join(map(str, same))})")
            text += "; "
        if mixed:
            betas = sorted({beta for _, beta in mixed})
            text += ("at D = " + ", ".join(f"{d}" for d, _ in mixed) + " it sampled from (1−β)·q_α + β·p with β = "
                     + ", ".join(f"{b:g}" for b in betas))
        else:
            text += "no D here reached the switch, so leverage sampling was never used"
        parts.append(text)
    last = {k: result.median(result.rmse, k)[-1] for k in result.methods}
    best = min(last, key=last.get)
    parts.append(f"at the largest D = {2 * result.features[-1]} the lowest RMSE was {best}'s {last[best]:.4f} "
                 f"against exact KRR's {result.exact_rmse:.4f}")
    for k in result.methods:
        if k.startswith("levrf"):
            rmse = result.median(result.rmse, k)
            parts.append(describe_change(f"{k}'s RMSE", rmse[0], rmse[-1], span_label(result.features, "features")))
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


EQUIVALENCE_METRICS = (("train_gap", "train gap"), ("test_gap", "test gap"), ("spectral_error", "ε of H(0)"))


def equivalence_section(result) -> tuple[str, str]:
    regimes = []
    for info in result.regimes.values():
        anchor = "W(0), to convergence" if info["penalty"] == "init" else "0 (the paper's), stopped at T"
        regimes.append(f"penalty toward {anchor}: α = {info['alpha']:.3g} (s_α(H^cts) = "
                       f"{info['statistical_dimension']:.1f}), {info['steps']:,} GD steps of η = {info['lr']:.3g} "
                       f"(T = {info['time']:.3g}" + (f", where the kernel flow is within ε = {info['epsilon']:g} of u*)"
                                                     if info["penalty"] == "origin" else ")"))
    lam0 = next(iter(result.regimes.values()))["lambda0"]
    settings = (f"**Settings.** {result.dataset}, n = {result.n} unit-norm training rows and {result.n_test} test "
                f"rows, kernel `{result.kernel}` (Λ0 = {lam0:.3g}), widths {', '.join(map(str, result.widths))}, "
                f"{result.seeds} seed(s), symmetric initialization; leverage initialization samples exactly from "
                f"q at λ = α/κ² (`sampling_alpha = α/κ²`, κ = 1). " + "; ".join(regimes) + ".")
    head = ["penalty", "init", "metric"] + [f"m = {m}" for m in result.widths]
    rows = []
    for regime in result.regimes:
        for init in result.inits:
            for metric, label in EQUIVALENCE_METRICS:
                rows.append([regime, init, label] + [f"{v:.4f}" for v in result.median(metric, regime, init)])
    align = ["---", "---", "---"] + ["---:"] * len(result.widths)
    return f"{settings}\n\n{markdown_table(head, rows, align)}", equivalence_sentence(result)


def equivalence_sentence(result) -> str:
    span = span_label(result.widths, "width")
    parts = []
    for regime, info in result.regimes.items():
        anchor = "toward W(0)" if info["penalty"] == "init" else "toward 0 (the paper's)"
        for init in result.inits:
            gaps = result.median("train_gap", regime, init)
            text = describe_change(f"with the penalty {anchor} and {init} init, the median train gap",
                                   gaps[0], gaps[-1], span)
            reached = result.smallest_width("train_gap", regime, init)
            text += (f", first ≤ {result.threshold:g} at width {reached}" if reached is not None
                     else f", and no width reached {result.threshold:g}")
            parts.append(text)
    ratio = result.widths[-1] / result.widths[0]
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + f". For scale: a gap proportional to m^(−1/2) would fall by "
            f"{100 * (1 - ratio**-0.5):.0f}% over {ratio:g}× width.")


SECTIONS = {"approx": approx_section, "leverage_profile": leverage_profile_section,
            "krr": krr_section, "equivalence": equivalence_section}


# ----------------------------------------------------------------------------- the demo
@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` torch and BLAS threads (None: leave them), then restore them."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    before = torch.get_num_threads()
    if threads is None:
        yield
        return
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):  # NumPy's BLAS, for the scikit-learn baselines
            yield
    finally:
        torch.set_num_threads(before)


def run_demo(out: Path | str, quiet: bool = False, full: bool = False) -> Path:
    """Run every demo experiment, write ``out/report.md``, PNGs and ``out/results.json``.

    Parameters
    ----------
    out : folder for the report (created if needed)
    quiet : hide progress bars and the tables printed along the way
    full : run the experiments at the sizes of docs/RESULTS.md (about an hour on 2 cores)
        instead of the quick demo (about 90 s)
    """
    if not isinstance(out, str | Path):
        raise TypeError(f"out must be a folder path (str or Path), got {type(out).__name__}")
    if not isinstance(quiet, bool) or not isinstance(full, bool):
        raise TypeError(f"quiet and full must be bools, got quiet={quiet!r}, full={full!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = FULL_SETTINGS if full else DEMO_SETTINGS
    threads = None if full else DEMO_THREADS
    sections, results, seconds = [], {}, {}
    with torch_threads(threads):
        for name, settings in plan.items():
            if name not in EXPERIMENTS:
                continue
            start = time.perf_counter()
            result = EXPERIMENTS[name](quiet=quiet, **settings)
            seconds[name] = time.perf_counter() - start
            paths = result.save(out, name)
            results[name] = result.to_dict()
            body, sentence = SECTIONS[name](result) if name in SECTIONS else ("", "")
            if not quiet:
                print(f"\n{name} ({seconds[name]:.0f} s): {body}\n\n{sentence}\n", flush=True)
            sections.append(f"## {name}\n\n{DEMO_TEXT.get(name, '')}\n\n![{name}]({paths['png'].name})\n\n"
                            f"{body}\n\n**What it shows.** {sentence} ({seconds[name]:.0f} s)\n")
    results["seconds"] = seconds
    write_atomic(out / "results.json", json.dumps(results, indent=2))
    mode = ("full-size run (`levrf demo --full`)" if full else
            f"quick demo on {DEMO_THREADS} torch/BLAS thread (`levrf demo --full` runs the full-size experiments)")
    report = out / "report.md"
    write_atomic(report, "# levrf demo report\n\n"
                 f"A {mode}, {sum(seconds.values()):.0f} s in all. Regenerate with `make demo` (or "
                 "`levrf demo --out DIR`). Every number is in results.json; every sentence under "
                 "**What it shows** is generated from the table above it.\n\n" + "\n".join(sections))
    return report
