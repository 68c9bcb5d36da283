"""Approximate ridge leverage for large n: never an n × n matrix.

Three estimators of τ_λ(w) = tr[Φ(w)ᵀ(K + λI)⁻¹Φ(w)], compared in ``docs/leverage.md`` and
``benchmarks/leverage.py``:

``subsample`` (the default of ``method="approximate"``)
    Exact leverage on ``r`` uniformly sampled rows with λ rescaled to ``λ·r/n``. Writing
    τ(w) = ⟨e_w, (T*T + λ)⁻¹ T*T e_w⟩ with ``T*T`` the integral operator on weights with kernel
    ``Σ_i φ(x_i, w)ᵀφ(x_i, w')`` (a sum over rows), a uniform subsample of r rows estimates
    ``(r/n)·T*T``, so ``τ_S(w; λ r/n) ≈ τ(w; λ)``. Cost ``O(r³ + r²·M·d2)`` for M weights,
    independent of n; memory ``O(r²)``.
``nystrom``
    ``K ≈ K_nr K_rr⁻¹ K_rn`` with r landmark rows, inverted by Woodbury:
    ``τ(w) ≈ (‖Φ(w)‖² − ‖R⁻¹ K_rn Φ(w)‖²)/λ`` with ``RRᵀ = λK_rr + K_rn K_nr``.
    Memory ``O(n·r)``; cost ``O(n·r·M·d2)`` (touches every row for every weight).
``pool_gram``
    The candidate pool itself estimates K: ``K ≈ ZZᵀ`` with ``Z = [Φ(w_1) … Φ(w_M)]/√M``.
    By push-through, ``(ZZᵀ + λI)⁻¹Z = Z(G + λI)⁻¹`` with ``G = ZᵀZ`` (D × D, D = M·d2,
    accumulated over row chunks). Leaving w_r out of its own estimate of K (so the estimate
    is independent of w_r) gives ``τ_r ≈ M·(tr[(λE_rr)⁻¹] − d2)`` with ``E = (G + λI)⁻¹`` and
    ``E_rr`` its d2 × d2 diagonal block. Memory ``O(D²)``, cost ``O(n·D² + D³)``.
"""

from __future__ import annotations

import copy
import math

import torch

from .._validation import check_positive, check_positive_int
from ..config import get_budget
from ..kernels import Kernel
from ..linalg import cholesky_factor, shifted_cholesky
from .scores import (
    ExactLeverage,
    LeverageScorer,
    as_float64,
    check_kernel,
    check_weights,
    weight_chunk,
)

#: largest pool Gram (D × D, D = M·d2) that ``pool_gram`` accepts
MAX_POOL_GRAM_DIM = 16_384


def default_rank(n: int) -> int:
    """Default number of rows ``r`` of the approximate methods: ``min(n, 2000)``."""
    return min(n, 2000)


def _landmarks(n: int, rank: int, generator: torch.Generator) -> torch.Tensor:
    if rank >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=generator)[:rank].sort().values


class SubsampleLeverage(LeverageScorer):
    """τ_λ from ``rank`` uniformly sampled rows at the rescaled ridge ``λ·r/n``.

    Parameters
    ----------
    kernel, X, alpha : as in :class:`~levrf.leverage.scores.ExactLeverage`
        ``X`` may also be :class:`levrf.rows.Rows` (e.g. a Dask array): only the sampled rows
        are gathered, so the cost is independent of n wherever the data live.
    rank : int, optional
        Rows kept (default ``min(n, 2000)``); ``rank >= n`` is the exact method.
    generator : torch.Generator
        Chooses the rows.
    rows : torch.Tensor, optional
        Sorted row indices to use instead of a uniform draw (their number is the rank).
    """

    def __init__(
        self,
        kernel: Kernel,
        X,
        alpha: float,
        *,
        rank: int | None = None,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
        rows: torch.Tensor | None = None,
    ) -> None:
        check_kernel(kernel)
        self.alpha = check_positive(alpha, "alpha")
        self.n = int(X.shape[0])
        if rows is not None:
            self.rows = torch.as_tensor(rows, dtype=torch.int64).sort().values
            self.rank = int(self.rows.numel())
        else:
            self.rank = default_rank(self.n) if rank is None else min(check_positive_int(rank, "rank"), self.n)
            if generator is None:
                raise TypeError("generator must be a torch.Generator (it chooses the rows) unless rows= is given")
            self.rows = _landmarks(self.n, self.rank, generator)
        if isinstance(X, torch.Tensor):
            X = as_float64(kernel, X)
            subsample = X[self.rows.to(X.device)]
        else:  # Rows: gather the subsample only
            subsample = as_float64(kernel, X.take(self.rows))
        self.inner = ExactLeverage(kernel, subsample, self.alpha * self.rank / self.n, batch_size=batch_size)

    def __call__(self, W) -> torch.Tensor:
        return self.inner(W)

    def eigenvalues(self) -> torch.Tensor:
        """Estimated nonzero eigenvalues of K: those of the subsample's K scaled by n/r."""
        return self.inner.eigenvalues() * (self.n / self.rank)

    @property
    def spectrum_computed(self) -> bool:
        return self.inner.spectrum_computed

    def statistical_dimension(self, alpha: float | None = None) -> float:
        """``Σ λ̂_i/(λ̂_i + α)`` with λ̂ = (n/r)·eig(K_S): the subsample's own s at ``α·r/n`` (at
        this scorer's α from its Cholesky factor, without an eigendecomposition)."""
        alpha = self.alpha if alpha is None else check_positive(alpha, "alpha")
        return self.inner.statistical_dimension(alpha * self.rank / self.n)

    def at_alpha(self, alpha: float) -> SubsampleLeverage:
        if alpha == self.alpha:
            return self
        other = copy.copy(self)
        other.alpha = check_positive(alpha, "alpha")
        other.inner = self.inner.at_alpha(alpha * self.rank / self.n)
        return other

    def restricted(self, rank: int, generator: torch.Generator) -> SubsampleLeverage:
        """The same estimator on ``rank`` of these rows, drawn uniformly (so still a uniform row
        subsample of the data), at the ridge ``α·rank/n``; the kernel matrix is not recomputed
        (its rows and columns are taken from this one). ``self`` when ``rank`` ≥ this rank."""
        rank = check_positive_int(rank, "rank")
        if rank >= self.rank:
            return self
        keep = torch.randperm(self.rank, generator=generator)[:rank].sort().values.to(self.inner.X.device)
        other = copy.copy(self)
        other.rows = self.rows[keep.to(self.rows.device)]
        other.rank = rank
        K = self.inner.K[keep][:, keep]
        other.inner = ExactLeverage(self.inner.kernel, self.inner.X[keep], self.alpha * rank / self.n,
                                    batch_size=self.inner.batch_size, _K=K)
        return other


def _row_chunk() -> int:
    """Rows per chunk when streaming over the data: the ``leverage_row_chunk`` of :mod:`levrf.config`."""
    return get_budget("leverage_row_chunk")


class NystromLeverage(LeverageScorer):
    """τ_λ under the Nyström approximation ``K ≈ K_nr K_rr⁻¹ K_rn`` (Woodbury; O(n·r) memory).

    ``RRᵀ = λK_rr + K_rn K_nr`` is factored by :func:`levrf.linalg.cholesky_factor`; duplicated
    landmarks make it singular, so its jitter (kept in ``jitter``) is expected and not warned about.
    """

    def __init__(
        self,
        kernel: Kernel,
        X,
        alpha: float,
        *,
        rank: int | None = None,
        generator: torch.Generator,
        batch_size: int | None = None,
    ) -> None:
        self.kernel = check_kernel(kernel)
        self.alpha = check_positive(alpha, "alpha")
        self.X = as_float64(kernel, X)
        n = self.X.shape[0]
        self.rank = default_rank(n) if rank is None else min(check_positive_int(rank, "rank"), n)
        self.batch_size = batch_size
        self._generator = generator
        rows = _landmarks(n, self.rank, generator).to(self.X.device)
        self.rows = rows
        Xr = self.X[rows]
        Krr = kernel.compute(Xr, Xr).to(torch.float64)
        self.Krr = 0.5 * (Krr + Krr.T)
        row_chunk = _row_chunk()
        self.Knr = torch.cat(
            [kernel.compute(self.X[a : a + row_chunk], Xr).to(torch.float64) for a in range(0, n, row_chunk)]
        )
        self.R, self.jitter = self._woodbury_factor(self.alpha)

    def _woodbury_factor(self, alpha: float) -> tuple[torch.Tensor, float]:
        Mmat = alpha * self.Krr + self.Knr.T @ self.Knr
        return cholesky_factor(0.5 * (Mmat + Mmat.T), what="alpha*K_rr + K_rn K_nr (Nystrom)", warn=False)

    def __call__(self, W) -> torch.Tensor:
        W = check_weights(self.kernel, self.X, W)
        n = self.X.shape[0]
        d2 = self.kernel.feature_dim(self.X.shape[1])
        row_chunk = _row_chunk()
        step = weight_chunk(min(n, row_chunk), 2 * d2, self.batch_size)
        out = []
        for a in range(0, W.shape[0], step):
            Wc = W[a : a + step]
            c = Wc.shape[0]
            P = torch.zeros(self.rank, c * d2, dtype=torch.float64, device=W.device)
            norms = torch.zeros(c, dtype=torch.float64, device=W.device)
            for b in range(0, n, row_chunk):
                F = self.kernel.compute_features(self.X[b : b + row_chunk], Wc).to(torch.float64).reshape(-1, c * d2)
                P += self.Knr[b : b + row_chunk].T @ F
                norms += F.pow(2).sum(0).reshape(c, d2).sum(1)
            A = torch.linalg.solve_triangular(self.R, P, upper=False)
            out.append((norms - A.pow(2).sum(0).reshape(c, d2).sum(1)) / self.alpha)
        return torch.cat(out).clamp_min(0.0)

    def at_alpha(self, alpha: float) -> NystromLeverage:
        """The same landmarks at another ridge."""
        if alpha == self.alpha:
            return self
        other = object.__new__(NystromLeverage)
        other.__dict__.update(self.__dict__)
        other.alpha = check_positive(alpha, "alpha")
        other.R, other.jitter = other._woodbury_factor(other.alpha)
        return other

    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of the Nyström approximation (those of K_rr^{-1/2} K_rn K_nr K_rr^{-1/2})."""
        e, V = torch.linalg.eigh(self.Krr)
        keep = e > 1e-10 * e.max()
        T = self.Knr @ (V[:, keep] / e[keep].sqrt())
        return torch.linalg.eigvalsh(T.T @ T).clamp_min(0.0)


def pool_gram_leverage(kernel: Kernel, X, W, alpha: float) -> torch.Tensor:
    """Leave-one-out τ_λ of each row of the pool ``W``, using the pool itself as K's estimate.

    ``τ_r ≈ M·(tr[(λE_rr)⁻¹] − d2)``, ``E = (ZᵀZ + λI)⁻¹``, ``Z = Φ(X, W)/√M`` (see module
    docstring). ``ZᵀZ`` is accumulated over row chunks: memory O(D²) with D = M·d2, never n × n.
    """
    check_kernel(kernel)
    alpha = check_positive(alpha, "alpha")
    X = as_float64(kernel, X)
    W = check_weights(kernel, X, W)
    M = W.shape[0]
    d2 = kernel.feature_dim(X.shape[1])
    D = M * d2
    if D > MAX_POOL_GRAM_DIM:
        raise ValueError(
            f"pool_gram needs a {D} x {D} Gram (M={M} weights x d2={d2}); the limit is "
            f"{MAX_POOL_GRAM_DIM}: use fewer weights or method='subsample'"
        )
    G = torch.zeros(D, D, dtype=torch.float64, device=X.device)
    row_chunk = _row_chunk()
    for b in range(0, X.shape[0], row_chunk):
        Z = kernel.compute_features(X[b : b + row_chunk], W).to(torch.float64).reshape(-1, D) / math.sqrt(M)
        G += Z.T @ Z
    G = 0.5 * (G + G.T)
    L, _ = shifted_cholesky(G, alpha, what="Z^T Z + alpha*I (pool_gram)")
    del G
    # diagonal blocks E_rr of E = L⁻ᵀL⁻¹, from column chunks of L⁻¹ (never all of L⁻¹ at once)
    step = max(1, weight_chunk(D, d2, None))
    tr_inv = []
    for a in range(0, M, step):
        s, e = a * d2, min(a + step, M) * d2
        # columns s..e of L⁻¹ vanish above row s: solve with the trailing block only
        rhs = torch.zeros(D - s, e - s, dtype=L.dtype, device=L.device)
        rhs[: e - s].fill_diagonal_(1.0)
        Y = torch.linalg.solve_triangular(L[s:, s:], rhs, upper=False)
        Y = Y.reshape(D - s, -1, d2).permute(1, 2, 0)
        E = Y @ Y.transpose(1, 2)  # (c, d2, d2)
        tr_inv.append(torch.linalg.inv(alpha * E).diagonal(dim1=1, dim2=2).sum(1))
    return (M * (torch.cat(tr_inv) - d2)).clamp_min(0.0)
