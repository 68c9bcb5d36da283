"""Experiment ``krr``: test error against the number of weights and against wall time.

levrf's samplers against scikit-learn's ``RBFSampler`` (random Fourier features, cos only with a
random phase) and ``Nystroem`` (uniform landmarks), each followed by ``Ridge``; exact kernel
ridge regression is the floor. Every method is timed from raw data to a fitted model.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .. import datasets
from ..kernels import GaussianKernel, kernel_from_spec, kernel_to_spec
from ..progress import progress
from .base import ExperimentResult, finish_figure

LEVRF_METHODS = {
    "levrf gaussian": {"sampling": "gaussian"},
    "levrf leverage": {"sampling": "leverage"},
}
SKLEARN_METHODS = ("sklearn RBFSampler", "sklearn Nystroem")


@dataclasses.dataclass
class KRRResult(ExperimentResult):
    dataset: str
    kernel: str
    alpha: float
    n_train: int
    n_test: int
    features: list
    methods: list
    seeds: int
    rmse: dict  # method -> [len(features)][seeds]
    seconds: dict  # method -> [len(features)][seeds]
    feature_dims: dict  # method -> D per m
    exact_rmse: float
    exact_seconds: float
    #: levrf method -> per m, what its sampler did (from the fitted ``sampling_info_``, seed 0)
    sampling_choice: dict = dataclasses.field(default_factory=dict)

    def median(self, table: dict, method: str) -> list[float]:
        return [float(np.median(row)) for row in table[method]]

    def switch_dimension(self) -> float | None:
        """D = 2·(2·s_α) where the auto rule of "levrf leverage" starts sampling by leverage."""
        for choice in self.sampling_choice.get("levrf leverage", []):
            if choice and choice.get("statistical_dimension"):
                return 4.0 * float(choice["statistical_dimension"])
        return None

    def plot(self, path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
        # levrf leverage coincides with levrf gaussian where the auto rule samples from p: a distinct
        # marker and dashes keep both visible
        styles = {"levrf leverage": {"marker": "x", "ls": "--", "ms": 8}}
        for method in self.methods:
            rmse = self.median(self.rmse, method)
            style = styles.get(method, {"marker": "o", "ls": "-"})
            left.plot(self.feature_dims[method], rmse, label=method, **style)
            right.plot(self.median(self.seconds, method), rmse, label=method, **style)
        switch = self.switch_dimension()
        if switch is not None:
            left.axvline(switch, color="0.5", ls=":", lw=1,
                         label=f"D = 4·s_α = {switch:.0f}: auto rule's switch (m = 2·s_α)")
        for ax in (left, right):
            ax.axhline(self.exact_rmse, color="k", ls="--", lw=1, label=f"exact KRR ({self.exact_seconds:.2g} s)")
            ax.set_xscale("log")
            ax.set_ylabel("test RMSE (standardized target units)")
            ax.grid(True, which="both", alpha=0.3)
        left.set_xscale("log", base=2)
        left.set_xlabel("feature dimension D (columns of Ψ)")
        right.set_xlabel("wall time to fit, sampling included (s)")
        handles, labels = left.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", fontsize=8)
        fig.suptitle(f"{self.dataset} (n_train={self.n_train}, n_test={self.n_test}), kernel "
                     f"{self.kernel}, α={self.alpha:g}; medians over {self.seeds} seeds", fontsize=10)
        return finish_figure(fig, path)


def sampling_choice(info: dict) -> dict:
    """What a fitted sampler drew from, from its ``sampling_info_``: the auto rule's decision.

    ``source`` is ``"p (i.i.d.)"``, ``"p (QMC)"`` or ``"(1−β)·q + β·p"``; ``mixture`` is β and
    ``statistical_dimension`` the s_α the rule compared m with.
    """
    mixture = info.get("mixture")
    if info.get("sampler") in ("gaussian", "qmc") or mixture is None:
        source = "p (QMC)" if info.get("sampler") == "qmc" else "p (i.i.d.)"
    elif mixture >= 1.0:
        source = "p (QMC)" if "quasi" in str(info.get("p_sequence", "")) else "p (i.i.d.)"
    else:
        source = "(1−β)·q + β·p"
    return {"source": source, "mixture": mixture, "statistical_dimension": info.get("statistical_dimension")}


def _fit_levrf(kernel, m, alpha, seed, options, X, y, Xt):
    from .. import RandomFeatureRidge

    model = RandomFeatureRidge(kernel, n_features=m, alpha=alpha, random_state=seed, **options)
    start = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - start
    return model.predict(Xt), elapsed, sampling_choice(model.features_.sampling_info_)


def _fit_sklearn(method, kernel, D, alpha, seed, X, y, Xt):
    from sklearn.kernel_approximation import Nystroem, RBFSampler
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    gamma = 1.0 / (2.0 * kernel.bandwidth**2)
    mapper = (RBFSampler(gamma=gamma, n_components=D, random_state=seed) if method.endswith("RBFSampler")
              else Nystroem(kernel="rbf", gamma=gamma, n_components=min(D, X.shape[0]), random_state=seed))
    model = make_pipeline(mapper, Ridge(alpha=alpha, fit_intercept=False))
    start = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - start
    return model.predict(Xt), elapsed, D


def run_krr(
    dataset: str = "diamonds",
    kernel=None,
    alpha: float = 0.1,
    features=(32, 64, 128, 256, 512),
    seeds: int = 3,
    n: int = 3000,
    n_test: int = 1000,
    methods=(*LEVRF_METHODS, *SKLEARN_METHODS),
    quiet: bool = False,
) -> KRRResult:
    """Fit every method at every m on ``n`` training rows; evaluate on ``n_test`` held-out rows.

    sklearn's methods get the same feature dimension D = 2m as levrf's cos/sin features.
    ``"levrf leverage"`` uses ``sampling="leverage"`` with the default ``sampling_alpha="auto"``:
    below m = 2·s_α it samples from p, and ``result.sampling_choice`` records what it did.
    """
    from .. import KernelRidge

    X, y = datasets.load(dataset, n=n + n_test, random_state=0)
    X, Xt, y, yt = X[:n], X[n:], y[:n], y[n:]
    if kernel is None:
        kernel = GaussianKernel(bandwidth=math.sqrt(X.shape[1]) / 2)
    elif isinstance(kernel, str):
        kernel = kernel_from_spec(kernel, default_bandwidth=math.sqrt(X.shape[1]) / 2)
    if not isinstance(kernel, GaussianKernel):
        raise ValueError("the krr experiment compares with sklearn's RBF methods: use a Gaussian kernel")
    start = time.perf_counter()
    exact = KernelRidge(kernel, alpha=alpha).fit(X, y)
    exact_seconds = time.perf_counter() - start
    exact_rmse = float(np.sqrt(np.mean((exact.predict(Xt) - yt) ** 2)))
    methods = list(methods)
    shape = lambda: [[math.nan] * seeds for _ in features]  # noqa: E731
    result = KRRResult(
        dataset=dataset, kernel=kernel_to_spec(kernel, digits=3), alpha=float(alpha), n_train=n, n_test=n_test,
        features=[int(m) for m in features], methods=methods, seeds=int(seeds),
        rmse={k: shape() for k in methods}, seconds={k: shape() for k in methods},
        feature_dims={k: [2 * int(m) for m in features] for k in methods},
        exact_rmse=exact_rmse, exact_seconds=exact_seconds,
    )
    grid = [(k, i, m, s) for k in methods for i, m in enumerate(features) for s in range(seeds)]
    for method, i, m, seed in progress(grid, "krr: error vs m", min_items=1, show=not quiet):
        if method in LEVRF_METHODS:
            pred, secs, choice = _fit_levrf(kernel, int(m), alpha, seed, LEVRF_METHODS[method], X, y, Xt)
            if seed == 0:
                result.sampling_choice.setdefault(method, [None] * len(features))[i] = choice
        else:
            pred, secs, _ = _fit_sklearn(method, kernel, 2 * int(m), alpha, seed, X, y, Xt)
        result.rmse[method][i][seed] = float(np.sqrt(np.mean((pred - yt) ** 2)))
        result.seconds[method][i][seed] = secs
    return result
