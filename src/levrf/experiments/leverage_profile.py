"""Experiment ``leverage_profile``: what the ridge leverage function τ_λ(w) looks like on a dataset.

For shift-invariant kernels τ is plotted against the frequency norm ‖w‖; for the ReLU kernels
against the fraction of data points on the positive side of the hyperplane wᵀx = 0. A flat
profile means leverage sampling cannot beat sampling from p; a peaked one means it can.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import datasets
from ..kernels import ShiftInvariantKernel, kernel_from_spec, kernel_to_spec
from ..leverage import statistical_dimension
from .base import ExperimentResult, finish_figure, new_figure


@dataclasses.dataclass
class LeverageProfileResult(ExperimentResult):
    dataset: str
    kernel: str
    alpha: float
    n: int
    x_label: str
    x: list
    tau: list
    statistical_dimension: float
    sup_tau: float
    coherence: float  # sup τ / s_λ: how much Gaussian sampling overpays (Theorem 3.3's s̃ / s_λ)
    seed: int = 1  # random_state of the draw from p

    def plot(self, path):
        fig, ax = new_figure()
        ax.scatter(self.x, self.tau, s=4, alpha=0.4, label="τ_α(w) of one weight w ~ p")
        ax.axhline(self.statistical_dimension, color="k", ls="--", lw=1,
                   label=f"mean = s_α = {self.statistical_dimension:.1f}")
        ax.set_xlabel(self.x_label)
        ax.set_ylabel("ridge leverage τ_α(w) (dimensionless)")
        ax.set_yscale("log")
        label = kernel_to_spec(kernel_from_spec(self.kernel), digits=3)
        ax.set_title(f"{self.dataset} (n={self.n}), kernel {label}, α={self.alpha:g}; {len(self.tau):,} weights "
                     f"from p (random_state={self.seed})\n"
                     f"sup τ / s_α = {self.coherence:.2f} (1 = flat: leverage sampling cannot help)",
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        return finish_figure(fig, path)


def run_leverage_profile(
    dataset: str = "diamonds",
    kernel=None,
    alpha: float = 0.01,
    n: int = 1000,
    samples: int = 2000,
    seeds: int = 1,
    unit_norm: bool | None = None,
    quiet: bool = False,
    **_ignored,
) -> LeverageProfileResult:
    """Score ``samples`` weights drawn from p (the ``seeds`` option only changes the draw)."""
    from ..leverage import ridge_leverage

    kernel = "gaussian" if kernel is None else kernel
    spec = kernel if isinstance(kernel, str) else kernel_to_spec(kernel)
    relu = not spec.startswith(("gaussian", "laplacian", "matern"))
    X, _ = datasets.load(dataset, n=n, unit_norm=relu if unit_norm is None else unit_norm)
    kernel = kernel_from_spec(spec, default_bandwidth=math.sqrt(X.shape[1])) if isinstance(kernel, str) else kernel
    W = kernel.sample(samples, X.shape[1], seeds)
    tau = ridge_leverage(kernel, X, W, alpha)
    Xt = torch.as_tensor(X)
    if isinstance(kernel, ShiftInvariantKernel):
        x, x_label = W.norm(dim=1), "frequency norm ‖w‖ (inverse input units)"
    else:
        x, x_label = (Xt @ W.T >= 0).double().mean(0), "fraction of data with wᵀx ≥ 0"
    s = statistical_dimension(kernel(X), alpha)
    tau_np = tau.cpu().numpy()
    return LeverageProfileResult(
        dataset=dataset, kernel=kernel_to_spec(kernel), alpha=float(alpha), n=X.shape[0], x_label=x_label,
        x=np.round(x.cpu().numpy(), 6).tolist(), tau=np.round(tau_np, 6).tolist(),
        statistical_dimension=s, sup_tau=float(tau_np.max()), coherence=float(tau_np.max() / s), seed=int(seeds),
    )
