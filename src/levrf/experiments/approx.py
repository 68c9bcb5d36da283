"""Experiment ``approx``: spectral error ε (Eq. 2) against the number of features m, per sampler."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import datasets
from .._validation import check_positive
from ..features import RandomFeatures
from ..kernels import Kernel, kernel_from_spec, kernel_to_spec
from ..leverage import SAMPLERS, feature_bound, spectral_error, statistical_dimension
from ..progress import progress
from .base import ExperimentResult, finish_figure, new_figure, quartiles

#: sampler label → RandomFeatures keyword arguments (at the regression α: the paper's sampler)
SAMPLER_SETTINGS = {
    "gaussian": {"sampling": "gaussian"},
    "leverage": {"sampling": "leverage", "leverage_method": "exact"},
    "leverage-approx": {"sampling": "leverage", "leverage_method": "approximate"},
    "rejection": {"sampling": "rejection"},
    "surrogate": {"sampling": "surrogate"},
}
#: Theorem 3.3 holds for ε ∈ (0, 1/2): no bound is quoted at or above this
THEOREM_MAX_EPSILON = 0.5


@dataclasses.dataclass
class ApproxResult(ExperimentResult):
    dataset: str
    kernel: str
    alpha: float
    n: int
    features: list
    samplers: list
    seeds: int
    epsilon: dict  # sampler -> [len(features)][seeds]
    feature_dim: int = 1
    statistical_dimension: float = float("nan")
    delta: float = 0.1

    def median(self, sampler: str) -> list[float]:
        return [float(np.median(row)) for row in self.epsilon[sampler]]

    def quartiles(self, sampler: str) -> tuple[list[float], list[float]]:
        """Per-m 25th and 75th percentiles of ε over the seeds."""
        q1, _, q3 = quartiles(self.epsilon[sampler])
        return [float(v) for v in q1], [float(v) for v in q3]

    def bound_features(self, epsilon: float) -> int:
        """Features Theorem 3.3 asks for, exact leverage sampling (s̃ = s_λ), ε ∈ (0, 1/2), w.p. 1−δ."""
        epsilon = check_positive(epsilon, "epsilon")
        if epsilon >= THEOREM_MAX_EPSILON:
            raise ValueError(f"epsilon must be < {THEOREM_MAX_EPSILON} (Theorem 3.3 covers ε ∈ (0, 1/2)), "
                             f"got {epsilon}")
        s = self.statistical_dimension
        return feature_bound(epsilon, self.delta, s, s)

    def certified_epsilon(self) -> list[float | None]:
        """Per m, the ε that Theorem 3.3 certifies w.p. 1−δ for exact leverage sampling.

        Inverts ``m = (8/3) ε⁻² s_λ ln(16 s_λ²/δ)``; the theorem covers ε ∈ (0, 1/2) only, so
        where the inverse is ≥ 1/2 the entry is None (the theorem says nothing at that m).
        """
        s = self.statistical_dimension
        log_term = math.log(16.0 * s * s / self.delta)
        values = [math.sqrt(8.0 / 3.0 * s * log_term / m) for m in self.features]
        return [v if v < THEOREM_MAX_EPSILON else None for v in values]

    def plot(self, path):
        from matplotlib.ticker import NullFormatter

        fig, ax = new_figure(width=7.0, height=5.2)
        for name in self.samplers:
            q1, med, q3 = quartiles(self.epsilon[name])
            line = ax.plot(self.features, med, marker="o", lw=2, label=f"{name}: median")[0]
            ax.fill_between(self.features, q1, q3, alpha=0.2, color=line.get_color(), label=f"{name}: quartiles")
            seeds = np.asarray(self.epsilon[name], dtype=float)
            ax.plot(np.repeat(self.features, seeds.shape[1]), seeds.ravel(), ls="none", marker=".", ms=4,
                    alpha=0.5, color=line.get_color(), label=f"{name}: one seed")
        certified = [(m, e) for m, e in zip(self.features, self.certified_epsilon(), strict=True) if e is not None]
        if certified:
            ax.plot(*zip(*certified, strict=True), "k--", lw=1, label=f"Theorem 3.3 certified ε (δ={self.delta})")
        ax.axhline(THEOREM_MAX_EPSILON, color="0.4", ls=":", lw=1,
                   label="ε = 1/2 (Theorem 3.3 covers ε < 1/2 only)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(self.features, [str(m) for m in self.features])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("number of random weights m (features D = m·d2)")
        ax.set_ylabel("spectral error ε (dimensionless)")
        label = kernel_to_spec(kernel_from_spec(self.kernel), digits=3)
        ax.set_title(f"{self.dataset} (n={self.n}), kernel {label}, α={self.alpha:g}, s_α="
                     f"{self.statistical_dimension:.1f}; {self.seeds} seeds per m\nTheorem 3.3 (δ={self.delta}) "
                     f"needs m ≥ {self.bound_features(0.49):,} for ε = 0.49, "
                     f"{self.bound_features(0.25):,} for ε = 0.25", fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        fig.legend(loc="outside lower center", ncol=2, fontsize=8)
        return finish_figure(fig, path)


def run_approx(
    dataset: str = "diamonds",
    kernel: Kernel | str | None = None,
    alpha: float = 0.01,
    features=(50, 100, 200, 400, 800),
    samplers=("gaussian", "leverage"),
    seeds: int = 3,
    n: int = 1000,
    unit_norm: bool = False,
    quiet: bool = False,
) -> ApproxResult:
    """Measure ε(m) for each sampler on ``n`` rows of ``dataset``.

    ``kernel`` defaults to a Gaussian kernel of bandwidth sqrt(d); leverage samplers sample at
    the regression's own α (``sampling_alpha=alpha``), the paper's setting for Eq. 2.
    """
    X, _ = datasets.load(dataset, n=n, unit_norm=unit_norm)
    if kernel is None:
        kernel = kernel_from_spec("gaussian", default_bandwidth=math.sqrt(X.shape[1]))
    elif isinstance(kernel, str):
        kernel = kernel_from_spec(kernel, default_bandwidth=math.sqrt(X.shape[1]))
    samplers = [s for s in samplers if SAMPLER_SETTINGS.get(s, {}).get("sampling", s) in SAMPLERS]
    K = kernel(X)
    result = ApproxResult(
        dataset=dataset, kernel=kernel_to_spec(kernel), alpha=float(alpha), n=X.shape[0],
        features=[int(m) for m in features], samplers=list(samplers), seeds=int(seeds),
        epsilon={s: [[math.nan] * seeds for _ in features] for s in samplers},
        feature_dim=kernel.feature_dim(X.shape[1]),
        statistical_dimension=statistical_dimension(K, alpha),
    )
    grid = [(s, i, m, seed) for s in samplers for i, m in enumerate(features) for seed in range(seeds)]
    for name, i, m, seed in progress(grid, "approx: ε vs m", min_items=1, show=not quiet):
        options = dict(SAMPLER_SETTINGS.get(name, {"sampling": name}))
        rf = RandomFeatures(kernel, n_features=int(m), alpha=alpha, sampling_alpha=alpha,
                            random_state=seed, **options)
        Psi = torch.from_numpy(rf.fit_transform(X))
        result.epsilon[name][i][seed] = spectral_error(K, Psi, alpha)
    return result
