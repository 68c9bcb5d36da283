"""Experiment ``deep``: Theorem E.1 — a deep ReLU net, all layers trained, against its NTK ridge twin.

A ``DeepReLUNet`` of ``depth`` hidden layers is trained by full-batch gradient descent on
``½‖y − κf‖² + ½(α/(L+1))‖θ‖²`` (the penalty divided by the number of trained layers), from the
paper's regime ``α ≪ κ²Λ0``, and stopped at the theorem's time ``T = ln(1/ε)/(κ²Λ0 + α)``.
The relative gap ``‖u_nn(T) − u*‖/‖u*‖`` to ``u* = κ²Θ(κ²Θ + αI)⁻¹y`` with Θ =
``DeepReLUNTK(depth)`` should shrink as the width grows.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import datasets
from ..kernels import DeepReLUNTK
from ..progress import progress
from .base import ExperimentResult, finish_figure, new_figure, quartiles
from .equivalence import loglog_slope


@dataclasses.dataclass
class DeepResult(ExperimentResult):
    dataset: str
    depth: int
    alpha: float
    lambda0: float
    n: int
    widths: list
    seeds: int
    steps: int
    epsilon: float
    relative_train_gap: list  # [len(widths)][seeds]
    slope: float = math.nan

    def plot(self, path):
        fig, ax = new_figure()
        q1, med, q3 = quartiles(self.relative_train_gap)
        ax.plot(self.widths, med, marker="o", label=f"depth-{self.depth} ReLU net, Gaussian init (median)")
        ax.fill_between(self.widths, q1, q3, alpha=0.2)
        ref = med[0] * (np.asarray(self.widths, dtype=float) / self.widths[0]) ** -0.5
        ax.plot(self.widths, ref, "k:", lw=1, label="slope −1/2 (reference)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width m (units per hidden layer)")
        ax.set_ylabel("relative gap ‖u_nn(T) − u*‖ / ‖u*‖ (dimensionless)")
        ax.set_title(f"Theorem E.1 — {self.dataset} (n={self.n}, unit-norm), kernel deep-relu-ntk:depth="
                     f"{self.depth}, α={self.alpha:.2g} (= {self.alpha / self.lambda0:.2g}·Λ0)\n"
                     f"stopped at T for ε={self.epsilon:g} ({self.steps} GD steps); fitted slope "
                     f"{self.slope:.2f}; bands: quartiles over {self.seeds} seeds", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        return finish_figure(fig, path)


def run_deep(
    dataset: str = "synthetic",
    depth: int = 2,
    n: int = 64,
    features=(16, 32, 64, 128),
    seeds: int = 3,
    alpha: float | None = None,
    epsilon: float = 1e-2,
    max_steps: int = 20_000,
    quiet: bool = False,
    **_ignored,
) -> DeepResult:
    """Train ``seeds`` nets per width in ``features`` on ``n`` unit-norm rows of ``dataset``.

    ``alpha`` defaults to ``0.01·Λ0`` with ``Λ0 = λ_min(DeepReLUNTK(depth)(X))`` (κ = 1). The
    default dataset is ``synthetic`` (Gaussian points projected to the sphere): real tables such
    as diamonds hold near-duplicate rows, so Λ0 is tiny and the theorem's T is millions of steps.
    """
    from ..nn import DeepReLUNet, stopping_time, train_regularized

    X_np, y_np = datasets.load(dataset, n=n, unit_norm=True)
    X, y = torch.from_numpy(X_np), torch.from_numpy(np.asarray(y_np, dtype=np.float64))
    K = DeepReLUNTK(depth)(X)
    eig = torch.linalg.eigvalsh(K)
    lam0, lam_max = float(eig[0]), float(eig[-1])
    alpha = 0.01 * lam0 if alpha is None else float(alpha)
    lr = 1.0 / (1.2 * lam_max + alpha)
    steps = math.ceil(stopping_time(epsilon, lam0, 1.0, alpha) / lr)
    if steps > max_steps:
        raise ValueError(f"the theorem's T needs {steps} GD steps on {dataset!r} (Λ0 = {lam0:.2g}); more than "
                         f"max_steps={max_steps}: use better separated data or a larger epsilon")
    widths = [int(m) for m in features]
    gaps = [[math.nan] * seeds for _ in widths]
    grid = [(i, m, s) for i, m in enumerate(widths) for s in range(seeds)]
    for i, m, s in progress(grid, "deep: gap vs width", min_items=1, show=not quiet):
        net = DeepReLUNet(X.shape[1], m, depth=depth, random_state=s)
        history = train_regularized(net, X, y, alpha, steps=steps, lr=lr, record_every=steps,
                                    track_kernel=False, quiet=True)
        gaps[i][s] = float(history.relative_train_gap[-1])
    return DeepResult(dataset=dataset, depth=depth, alpha=alpha, lambda0=lam0, n=X.shape[0], widths=widths,
                      seeds=seeds, steps=steps, epsilon=epsilon, relative_train_gap=gaps,
                      slope=loglog_slope(widths, gaps))
