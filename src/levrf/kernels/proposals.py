"""Feature-norm proposals: the capability of a kernel that exact rejection sampling needs.

For fixed rows ``X`` a *feature-norm proposal* samples ``q₀(w) = p(w)‖Φ(w)‖_F² / E_p‖Φ‖_F²``
exactly and evaluates ``‖Φ(w)‖_F² = Σ_i ‖φ(x_i, w)‖²`` for any weights. A kernel offers one
through :meth:`levrf.Kernel.feature_norm_proposal` (``None``: not available); the rejection
sampler (:mod:`levrf.leverage.rejection`) uses nothing else about the kernel's family.

* cos/sin features (:class:`ConstantNormProposal`): ``‖Φ(w)‖_F² = n`` for every w, so ``q₀ = p``;
* gated features ``‖φ(x_i, w)‖² = c_i 1[x_iᵀw ≥ 0]`` (:class:`HalfspaceProposal`: ReLU NTK with
  ``c_i = ‖x_i‖²``, arc-cosine order 0 with ``c_i = 1``): pick row i with probability ∝ its mass
  ``E_p[c_i 1[x_iᵀw ≥ 0]]``, then w ~ p conditioned on ``x_iᵀw ≥ 0`` (flip the sign of a draw);
* ``‖φ(x_i, w)‖² = relu(x_iᵀw)²`` (:class:`Chi3Proposal`, arc-cosine order 1): pick i ∝ ‖x_i‖²,
  then w ~ N(0, I) except that its component along ``x_i/‖x_i‖`` is chi-distributed with 3
  degrees of freedom.

The last two need ``p = N(0, I)`` (symmetric, rotation invariant).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..config import get_budget


class FeatureNormProposal(ABC):
    """Sampler of ``q₀(w) ∝ p(w)‖Φ(w)‖_F²`` and the exact ``‖Φ(w)‖_F²``, for fixed rows ``X``.

    Attributes
    ----------
    X : torch.Tensor (n, d), float64
    expected_norm : float
        ``E_p ‖Φ(w)‖_F²`` (= tr K when the closed form matches the features): the normaliser of q₀.
    """

    X: torch.Tensor
    expected_norm: float

    @abstractmethod
    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` weights from q₀ (float64, on X's device)."""

    @abstractmethod
    def feature_norms(self, W: torch.Tensor) -> torch.Tensor:
        """``‖Φ(w)‖_F²`` for each row of ``W`` (float64 (m,))."""


def _weight_step(n_rows: int) -> int:
    """Weights per chunk of the (n, c) projections: the ``leverage_chunk_bytes`` budget."""
    return max(1, get_budget("leverage_chunk_bytes") // (8 * max(n_rows, 1) * 2))


class ConstantNormProposal(FeatureNormProposal):
    """``‖Φ(w)‖_F² = n·c`` for every w (cos/sin features: c = 1), so ``q₀ = p``."""

    def __init__(self, kernel, X: torch.Tensor, norm_per_row: float = 1.0) -> None:
        self.kernel, self.X = kernel, X
        self.norm = float(X.shape[0]) * float(norm_per_row)
        self.expected_norm = self.norm

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        return self.kernel.sample(count, self.X.shape[1], generator).to(torch.float64)

    def feature_norms(self, W: torch.Tensor) -> torch.Tensor:
        return torch.full((W.shape[0],), self.norm, dtype=torch.float64, device=W.device)


class _RowMixtureProposal(FeatureNormProposal):
    """q₀ as a mixture over rows: row i with probability ∝ ``row_mass[i]``, then a draw from p
    tilted towards row i (subclasses say how)."""

    def __init__(self, kernel, X: torch.Tensor, row_mass: torch.Tensor) -> None:
        self.kernel, self.X = kernel, X
        #: row_mass[i] = E_p ‖φ(x_i, w)‖², the weight of row i in the mixture q₀
        self.row_mass = row_mass
        self.norms = (X * X).sum(1).sqrt()
        self.expected_norm = float(row_mass.sum())

    def _rows(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Standard-normal draws and the unit vector of the row each one is tilted towards."""
        W = self.kernel.sample(count, self.X.shape[1], generator).to(torch.float64)
        rows = torch.multinomial(self.row_mass.cpu(), count, replacement=True, generator=generator)
        x = self.X[rows.to(self.X.device)]
        nx = self.norms[rows.to(self.X.device)]
        unit = x / torch.where(nx > 0, nx, torch.ones_like(nx))[:, None]
        return W, unit

    def feature_norms(self, W: torch.Tensor) -> torch.Tensor:
        step = _weight_step(self.X.shape[0])
        return torch.cat([self._norms_of(self.X @ W[a : a + step].T) for a in range(0, W.shape[0], step)])

    @abstractmethod
    def _norms_of(self, proj: torch.Tensor) -> torch.Tensor:
        """``Σ_i ‖φ(x_i, w_r)‖²`` from the projections ``proj = X Wᵀ`` (n, c)."""


class HalfspaceProposal(_RowMixtureProposal):
    """``‖φ(x_i, w)‖² = c_i 1[x_iᵀw ≥ 0]`` with ``p = N(0, I)``.

    Parameters
    ----------
    kernel : a kernel whose ``p`` is symmetric (``w`` and ``−w`` equally likely)
    X : (n, d) float64 rows
    row_weight : (n,) the ``c_i``
    row_mass : (n,) ``E_p[c_i 1[x_iᵀw ≥ 0]]``: ``c_i/2`` for a nonzero row, ``c_i`` for a zero row
        (``1[0 ≥ 0] = 1`` for every w)
    """

    def __init__(self, kernel, X: torch.Tensor, row_weight: torch.Tensor, row_mass: torch.Tensor) -> None:
        super().__init__(kernel, X, row_mass)
        self.row_weight = row_weight

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        W, unit = self._rows(count, generator)
        along = (W * unit).sum(1)
        return torch.where((along < 0)[:, None], -W, W)  # zero rows: unit = 0, W unchanged

    def _norms_of(self, proj: torch.Tensor) -> torch.Tensor:
        return ((proj >= 0).to(torch.float64) * self.row_weight[:, None]).sum(0)


class Chi3Proposal(_RowMixtureProposal):
    """``‖φ(x_i, w)‖² = relu(x_iᵀw)²`` with ``p = N(0, I)``: row mass ``‖x_i‖²/2``."""

    def __init__(self, kernel, X: torch.Tensor) -> None:
        super().__init__(kernel, X, (X * X).sum(1) / 2.0)

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        W, unit = self._rows(count, generator)
        along = (W * unit).sum(1)
        chi3 = torch.randn((count, 3), generator=generator, dtype=torch.float64).norm(dim=1)
        return W + (chi3.to(W.device) - along)[:, None] * unit

    def _norms_of(self, proj: torch.Tensor) -> torch.Tensor:
        return proj.clamp_min(0.0).pow(2).sum(0)
