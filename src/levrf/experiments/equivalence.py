"""Experiment ``equivalence``: regularized two-layer ReLU networks against NTK ridge regression.

For each width m, initialization (Gaussian or leverage, Definition 3.8) and seed, a
:class:`~levrf.nn.TwoLayerReLU` (symmetric, so the initial output is 0) is trained by full-batch
gradient descent and compared with its twin ``u* = κ²H(κ²H + αI)⁻¹Y`` (Theorems 3.6, 3.7, 3.9):

* regime ``"init"``: penalty ``½α‖W − W(0)‖²`` trained to convergence, with α large enough that
  ``s_α(H^cts)`` is well below n (where leverage scores are not flat);
* regime ``"origin"``: the paper's penalty ``½α‖W‖²`` with α well below ``κ²Λ0``-scale, stopped at
  the time T when the NTK ridge flow itself is within ε of u* (for data whose smallest
  eigenvalue is tiny, the worst-case ``ln(1/ε)/(κ²Λ0 + α)`` of :func:`levrf.nn.stopping_time`
  would need millions of steps; :func:`flow_time` is the exact time for these targets).

Recorded per run: relative train and test gaps, the spectral error of H(0) against ``H^cts`` at
ridge α/κ² (Eq. 2), ``‖H(T) − H(0)‖₂`` and ``max_r ‖w_r(T) − w_r(0)‖``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import datasets
from ..kernels import ReLUNTK
from ..leverage import spectral_error, statistical_dimension
from ..nn import TwoLayerReLU, dynamic_kernel, stopping_time, train_regularized
from ..progress import progress
from .base import ExperimentResult, finish_figure

#: the metrics recorded for every (regime, init, width, seed)
METRICS = ("train_gap", "test_gap", "spectral_error", "kernel_drift", "weight_drift")
#: how the legend names each penalty's anchor
PENALTY_NAMES = {"init": "W(0)", "origin": "0 (the paper's)"}
#: gap threshold for the "smallest width" summary
GAP_THRESHOLD = 0.05
FULL_WIDTHS = (2**6, 2**8, 2**10, 2**12, 2**14)
QUICK_WIDTHS = (2**6, 2**8, 2**10)


def flow_time(H: torch.Tensor, y: torch.Tensor, alpha: float, kappa: float, epsilon: float) -> float:
    """Smallest T with ``‖u_flow(T) − u*‖ ≤ ε‖u*‖`` for the NTK ridge flow started at u(0) = 0.

    ``u_flow(t) − u* = −e^{−(κ²H+αI)t} u*`` in the eigenbasis of H; the error is decreasing in t,
    so T is found by bisection on log T.
    """
    evals, evecs = torch.linalg.eigh(0.5 * (H + H.T))
    evals = evals.clamp_min(0.0)
    star = (kappa**2 * evals / (kappa**2 * evals + alpha)) * (evecs.T @ y)
    rate = kappa**2 * evals + alpha
    target = epsilon * float(star.norm())

    def err(t: float) -> float:
        return float((torch.exp(-rate * t) * star).norm())

    hi = 1.0 / float(rate.max())
    while err(hi) > target:
        hi *= 2.0
    lo = hi / 2.0
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if err(mid) > target else (lo, mid)
    return hi


def alpha_for_dimension(H: torch.Tensor, target: float) -> float:
    """The α with ``s_α(H) = target`` (bisection on log α; s_α decreases in α)."""
    lo, hi = 1e-12, 1e6
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if statistical_dimension(H, mid) > target else (lo, mid)
    return math.sqrt(lo * hi)


def _sqrt_factor(H: torch.Tensor) -> torch.Tensor:
    """Ψ (n, n) with ΨΨᵀ = H, for :func:`spectral_error` (only ΨΨᵀ enters it)."""
    evals, evecs = torch.linalg.eigh(0.5 * (H + H.T))
    return evecs * evals.clamp_min(0.0).sqrt()


def width_sweep(
    X: torch.Tensor,
    y: torch.Tensor,
    X_test: torch.Tensor | None,
    *,
    widths,
    seeds: int,
    inits=("gaussian", "leverage"),
    penalty: str,
    alpha: float,
    steps: int,
    lr: float,
    kappa: float = 1.0,
    symmetric: bool = True,
    sampling_alpha="auto",
    quiet: bool = True,
) -> dict:
    """Train one network per (init, width, seed) and record the gaps to NTK ridge regression.

    Returns ``{metric: {init: [[value per seed] per width]}}`` for every metric of ``METRICS``
    (``test_gap`` is NaN without ``X_test``).
    """
    H_cts = ReLUNTK()(X)
    out = {k: {init: [[math.nan] * seeds for _ in widths] for init in inits} for k in METRICS}
    grid = [(init, i, int(m), s) for init in inits for i, m in enumerate(widths) for s in range(seeds)]
    for init, i, m, seed in progress(grid, f"equivalence ({penalty} penalty)", min_items=1, show=not quiet):
        net = TwoLayerReLU(X.shape[1], m, init=init, kappa=kappa, symmetric=symmetric, alpha=alpha, X=X,
                           sampling_alpha=sampling_alpha, random_state=seed)
        H0 = dynamic_kernel(net, X)
        hist = train_regularized(net, X, y, alpha, kappa, steps=steps, lr=lr, penalty=penalty,
                                 X_test=X_test, record_every=steps, quiet=quiet)
        out["train_gap"][init][i][seed] = hist.relative_train_gap[-1]
        if X_test is not None:
            out["test_gap"][init][i][seed] = hist.relative_test_gap[-1]
        out["spectral_error"][init][i][seed] = spectral_error(H_cts, _sqrt_factor(H0), alpha / kappa**2)
        out["kernel_drift"][init][i][seed] = hist.kernel_drift[-1]
        out["weight_drift"][init][i][seed] = hist.weight_drift[-1]
    return out


def loglog_slope(widths, values) -> float:
    """Least-squares slope of log(median over seeds) against log(width)."""
    med = np.nanmedian(np.asarray(values, dtype=float), axis=1)
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)), np.log(med), 1)[0])


@dataclasses.dataclass
class EquivalenceResult(ExperimentResult):
    """Gaps between trained networks and NTK ridge regression, per regime, init, width and seed.

    ``metrics[metric][regime][init]`` is a (len(widths), seeds) nested list; ``regimes[name]``
    holds that regime's penalty, α, κ, ε, step size, steps, T, ``s_α(H^cts)`` and ``Λ0``.
    """

    dataset: str
    kernel: str
    n: int
    n_test: int
    widths: list
    seeds: int
    inits: list
    regimes: dict
    metrics: dict
    threshold: float = GAP_THRESHOLD

    def median(self, metric: str, regime: str, init: str) -> list[float]:
        return [float(np.nanmedian(row)) for row in self.metrics[metric][regime][init]]

    def slope(self, metric: str, regime: str, init: str) -> float:
        """Log-log slope of the median ``metric`` against width."""
        return loglog_slope(self.widths, self.metrics[metric][regime][init])

    def smallest_width(self, metric: str, regime: str, init: str) -> int | None:
        """Smallest width whose median ``metric`` is ≤ ``threshold`` (None if none is)."""
        for m, value in zip(self.widths, self.median(metric, regime, init), strict=True):
            if value <= self.threshold:
                return int(m)
        return None

    def summary(self) -> dict:
        """``{regime: {init: {smallest widths, slopes}}}`` for the report."""
        return {
            regime: {
                init: {
                    "smallest_width_train": self.smallest_width("train_gap", regime, init),
                    "smallest_width_test": self.smallest_width("test_gap", regime, init),
                    "slope_train": self.slope("train_gap", regime, init),
                    "slope_test": self.slope("test_gap", regime, init),
                }
                for init in self.inits
            }
            for regime in self.regimes
        }

    def plot(self, path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [("train_gap", "relative train gap ‖u_nn − u*‖/‖u*‖"),
                  ("test_gap", "relative test gap ‖u_nn,test − u*_test‖/‖u*_test‖"),
                  ("spectral_error", "spectral error ε of H(0) vs H^cts (Eq. 2)")]
        fig, axes = plt.subplots(1, 3, figsize=(15, 5.4), layout="constrained")
        # penalty: colour family, marker and line style; init: shade and filled/open marker
        looks = {"init": {"ls": "-", "marker": "o", "colors": {"gaussian": "tab:blue", "leverage": "lightskyblue"}},
                 "origin": {"ls": "--", "marker": "s", "colors": {"gaussian": "tab:red", "leverage": "lightsalmon"}}}
        for ax, (metric, label) in zip(axes, panels, strict=True):
            for regime, info in self.regimes.items():
                look = looks.get(info["penalty"], looks["init"])
                for init in self.inits:
                    color = look["colors"].get(init, "tab:gray")
                    ax.plot(self.widths, self.median(metric, regime, init), ls=look["ls"], marker=look["marker"],
                            color=color, mfc=color if init == "gaussian" else "white", mec=color, mew=1.6, ms=7,
                            lw=1.8, label=f"{init} init, penalty toward {PENALTY_NAMES.get(info['penalty'], info['penalty'])}, "
                                         f"α={info['alpha']:.3g}")
            if metric != "spectral_error":
                ax.axhline(self.threshold, color="k", lw=0.8, ls=":", label=f"gap = {self.threshold:g}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width m (hidden neurons)")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9, handlelength=4)
        fig.suptitle(f"{self.dataset} (n={self.n}, {self.n_test} test rows), kernel {self.kernel}; "
                     f"medians over {self.seeds} seed(s)", fontsize=10)
        return finish_figure(fig, path)


def run_equivalence(
    dataset: str = "diamonds",
    kernel: str | None = None,
    alpha: float | None = None,
    features=None,
    seeds: int | None = None,
    n: int = 300,
    n_test: int = 100,
    inits=("gaussian", "leverage"),
    regimes=("init", "origin"),
    kappa: float = 1.0,
    dimension_fraction: float = 0.1,
    origin_alpha_fraction: float = 0.1,
    epsilon: float | None = None,
    quick: bool = False,
    quiet: bool = False,
) -> EquivalenceResult:
    """Run the width sweep on ``n`` unit-norm rows of ``dataset`` (plus ``n_test`` test rows).

    Parameters
    ----------
    dataset : embedded dataset name
    kernel : None or "relu-ntk" (the two-layer network's kernel; anything else is an error)
    alpha : float, optional
        α of the ``"init"`` regime; default: ``s_α(H^cts) = dimension_fraction · n``.
    features : widths, default ``2^6, 2^8, ..., 2^14`` (``2^6, 2^8, 2^10`` when quick)
    seeds : int, default 2 (1 when quick)
    inits : initializations to compare
    regimes : subset of ("init", "origin")
    kappa : output scale κ
    dimension_fraction : see ``alpha``
    origin_alpha_fraction : α of the ``"origin"`` regime as a fraction of ``κ²Λ0``
    epsilon : float, optional
        The ``"origin"`` regime stops when the NTK ridge flow is within ε of u* (relative);
        default 0.02 (0.05 when quick).
    quick : widths 2^6, 2^8, 2^10, one seed and ε = 0.05 (about 45 s on one thread)
    quiet : hide progress bars
    """
    if kernel not in (None, "relu-ntk"):
        raise ValueError(f"the equivalence experiment uses the two-layer ReLU NTK; kernel must be 'relu-ntk', got {kernel!r}")
    unknown = set(regimes) - {"init", "origin"}
    if unknown or not regimes:
        raise ValueError(f"regimes must be a non-empty subset of ('init', 'origin'), got {regimes!r}")
    widths = [int(m) for m in (features if features is not None else (QUICK_WIDTHS if quick else FULL_WIDTHS))]
    if not widths or any(m < 2 or m % 2 for m in widths):
        raise ValueError(f"features (widths) must be even integers >= 2, got {widths!r}")
    seeds = (1 if quick else 2) if seeds is None else int(seeds)
    epsilon = (0.05 if quick else 0.02) if epsilon is None else float(epsilon)
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must lie strictly between 0 and 1, got {epsilon}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    X_all, y_all = datasets.load(dataset, n=n + n_test, unit_norm=True)
    X, y = torch.from_numpy(X_all[:n]), torch.from_numpy(np.asarray(y_all[:n], dtype=np.float64))
    Xt = torch.from_numpy(X_all[n:])
    H = ReLUNTK()(X)
    evals = torch.linalg.eigvalsh(H)
    lam0, lam_max = float(evals[0]), float(evals[-1])
    settings = {}
    if "init" in regimes:
        a = alpha if alpha is not None else alpha_for_dimension(H / kappa**2, dimension_fraction * n)
        T = stopping_time(1e-6, lam0, kappa, a)
        settings["init"] = {"penalty": "init", "alpha": a, "epsilon": 1e-6, "time": T}
    if "origin" in regimes:
        a = origin_alpha_fraction * kappa**2 * lam0
        T = flow_time(H, y, a, kappa, epsilon)
        settings["origin"] = {"penalty": "origin", "alpha": a, "epsilon": epsilon, "time": T}
    for info in settings.values():
        info["kappa"] = kappa
        info["lr"] = 1.0 / (1.2 * kappa**2 * lam_max + info["alpha"])
        info["steps"] = int(math.ceil(info["time"] / info["lr"]))
        info["statistical_dimension"] = statistical_dimension(H, info["alpha"] / kappa**2)
        info["lambda0"] = lam0
    metrics = {k: {} for k in METRICS}
    for regime, info in settings.items():
        out = width_sweep(X, y, Xt, widths=widths, seeds=seeds, inits=inits, penalty=info["penalty"],
                          alpha=info["alpha"], steps=info["steps"], lr=info["lr"], kappa=kappa,
                          sampling_alpha=info["alpha"] / kappa**2, quiet=quiet)
        for k in METRICS:
            metrics[k][regime] = out[k]
    return EquivalenceResult(dataset=dataset, kernel="relu-ntk", n=n, n_test=n_test, widths=widths,
                             seeds=seeds, inits=list(inits), regimes=settings, metrics=metrics)
