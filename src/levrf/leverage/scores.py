"""Exact ridge leverage function τ_λ(w) = tr[Φ(w)ᵀ (K + λI)⁻¹ Φ(w)] (paper Def. 3.1).

One Cholesky factorisation ``K + λI = LLᵀ`` serves every weight: for a chunk of weights the
features ``F = [Φ(w_1) … Φ(w_c)]`` (n × c·d2) are solved in one batched triangular solve
``A = L⁻¹F`` and ``τ(w_r) = ‖A_r‖_F²`` summed over the d2 columns of weight r.

For a kernel with *gated linear features* (``kernel.gated_features``, e.g.
:class:`~levrf.ReLUNTK`), ``Φ(w) = D_{s_w} X`` with gates ``s_w = kernel.feature_gates(X, w)``
(``1[Xw ≥ 0]`` for the ReLU NTK), so ``τ(w) = s_wᵀ B s_w`` with ``B = (K + λI)⁻¹ ∘ XXᵀ``
(Hadamard product): one GEMM with the gate matrix per chunk instead of d solves per weight.

Everything is computed in float64 whatever the kernel's dtype: leverage scores feed a sampling
distribution whose tails matter, and ``K + λI`` is ill-conditioned for small λ.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from .._validation import as_matrix, check_positive, check_positive_int
from ..config import get_budget
from ..kernels import Kernel
from ..linalg import shifted_cholesky
from ..progress import progress
from ..scipy_blas import blas_threads


def check_kernel(kernel) -> Kernel:
    """A levrf kernel that has random features (needed to score weights)."""
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a levrf kernel (e.g. levrf.GaussianKernel()), got {kernel!r}")
    if not kernel.has_features:
        raise ValueError(f"kernel {kernel!r} has no random features, so it has no leverage function")
    return kernel


def as_float64(kernel: Kernel, X, name: str = "X") -> torch.Tensor:
    """Validated float64 copy of ``X`` on the kernel's device."""
    return as_matrix(X, name, dtype=torch.float64, device=kernel.torch_device)


def check_weights(kernel: Kernel, X: torch.Tensor, W) -> torch.Tensor:
    """Validated float64 weights whose dimension matches ``X`` (any d1 for user kernels)."""
    W = as_matrix(W, "W", dtype=torch.float64, device=X.device)
    d1 = kernel.weight_dim(X.shape[1])
    if d1 is not None and W.shape[1] != d1:
        raise ValueError(f"W has {W.shape[1]} columns but X has {X.shape[1]}; they must match")
    return W


def kernel_matrix(kernel: Kernel, X: torch.Tensor) -> torch.Tensor:
    """Symmetrised exact ``K(X, X)`` in float64 (requires a closed form)."""
    try:
        K = kernel.compute(X, X)
    except NotImplementedError as exc:
        raise ValueError(f"exact leverage needs the closed form of {kernel!r}: {exc}") from exc
    K = K.to(dtype=torch.float64, device=X.device)
    return 0.5 * (K + K.T)


def lower_triangular_inverse(L: torch.Tensor) -> torch.Tensor:
    """``L⁻¹`` of a nonsingular lower-triangular matrix: LAPACK ``trtri`` (n³/3 flops) for CPU
    float32/float64 tensors, a triangular solve against I (n³ flops) elsewhere.

    Measured with one thread: 2.1 / 24 / 76 ms at n = 512 / 1,024 / 2,048, against 13 / 74 / 560 ms
    for ``torch.linalg.solve_triangular(L, I)`` and 10 / 63 / 460 ms for ``torch.cholesky_inverse``.
    """
    if L.device.type == "cpu" and L.dtype in (torch.float32, torch.float64):
        from scipy.linalg import lapack

        trtri = lapack.dtrtri if L.dtype == torch.float64 else lapack.strtri
        with blas_threads(L.shape[0] ** 3 / 3):
            inv, info = trtri(L.numpy(), lower=1)
        if info == 0:
            return torch.from_numpy(inv).tril_()
    eye = torch.eye(L.shape[0], dtype=L.dtype, device=L.device)
    return torch.linalg.solve_triangular(L, eye, upper=False)


def weight_chunk(n_rows: int, floats_per_weight_row: int, batch_size: int | None) -> int:
    """Weights per chunk: ``batch_size`` if given, else as many float64 intermediates as fit the
    ``leverage_chunk_bytes`` budget of :mod:`levrf.config` (64 MiB by default)."""
    if batch_size is not None:
        return int(batch_size)
    return max(1, get_budget("leverage_chunk_bytes") // (8 * max(n_rows, 1) * max(floats_per_weight_row, 1)))


class LeverageScorer(ABC):
    """τ_α(·) for fixed data and α: ``scorer(W) -> τ`` for any weights, and the spectrum of K.

    Subclasses differ in how they see K (exactly, on a row subsample, through Nyström
    landmarks); every sampler and diagnostic uses only this interface.

    Attributes
    ----------
    alpha : float
        The ridge λ at which ``__call__`` scores.
    exact : bool
        Whether τ and the spectrum are those of K itself (not an estimate).
    """

    alpha: float
    exact: bool = False

    @abstractmethod
    def __call__(self, W) -> torch.Tensor:
        """τ_α(w_r) for every row of ``W``: float64 tensor (m,)."""

    @abstractmethod
    def eigenvalues(self) -> torch.Tensor:
        """The (estimated) nonzero eigenvalues of K, ascending, float64."""

    @property
    def spectrum_computed(self) -> bool:
        """Whether :meth:`eigenvalues` is already known (free to use, e.g. for s at another α)."""
        return False

    def statistical_dimension(self, alpha: float | None = None) -> float:
        """``s_α = Σ λ_i/(λ_i + α)`` from :meth:`eigenvalues` (at this scorer's α by default)."""
        alpha = self.alpha if alpha is None else check_positive(alpha, "alpha")
        eig = self.eigenvalues()
        return float((eig / (eig + alpha)).sum())

    @abstractmethod
    def at_alpha(self, alpha: float) -> LeverageScorer:
        """The same data at another ridge, sharing what does not depend on α."""


class ExactLeverage(LeverageScorer):
    """τ_α(·) for fixed data and α: factor once, then score any number of weights.

    Parameters
    ----------
    kernel : levrf kernel with random features and a closed form
    X : (n, d) training inputs
    alpha : float > 0, the ridge parameter λ at which leverage is measured
    batch_size : int, optional
        Weights per chunk; by default as many as fit the ``leverage_chunk_bytes`` budget of
        :mod:`levrf.config` (64 MiB).

    Notes
    -----
    Cost: one Cholesky (n³/3 flops), then ``n² · d2`` flops per weight (``n²`` for ReLUNTK);
    memory ``O(n²)`` plus one chunk. ``K + αI`` is factored by :func:`levrf.linalg.shifted_cholesky`
    (a documented jitter and a ``JitterWarning`` when α is below the rounding of K; the jitter
    is kept in ``jitter``).
    """

    def __init__(
        self, kernel: Kernel, X, alpha: float, *, batch_size: int | None = None, _K: torch.Tensor | None = None
    ) -> None:
        self.kernel = check_kernel(kernel)
        self.alpha = check_positive(alpha, "alpha")
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        self.batch_size = batch_size
        self.X = as_float64(kernel, X)
        self.K = kernel_matrix(kernel, self.X) if _K is None else _K
        self.L, self.jitter = shifted_cholesky(self.K, self.alpha, what="K + alpha*I")
        self._eigenvalues: torch.Tensor | None = None
        self._B: torch.Tensor | None = None
        if kernel.gated_features:
            n = self.X.shape[0]
            eye = torch.eye(n, dtype=self.X.dtype, device=self.X.device)
            Linv = torch.linalg.solve_triangular(self.L, eye, upper=False)
            self._B = (Linv.T @ Linv) * (self.X @ self.X.T)

    exact = True

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def spectrum_computed(self) -> bool:
        return self._eigenvalues is not None

    def __call__(self, W) -> torch.Tensor:
        """τ_α(w_r) for every row of ``W``: float64 tensor (m,)."""
        W = check_weights(self.kernel, self.X, W)
        if self._B is not None:
            step = weight_chunk(self.n, 3, self.batch_size)
            parts = [self._gated_chunk(W[a : a + step]) for a in progress(range(0, W.shape[0], step), "scoring weights")]
        else:
            d2 = self.kernel.feature_dim(self.X.shape[1])
            step = weight_chunk(self.n, 3 * d2, self.batch_size)
            parts = [self._generic_chunk(W[a : a + step]) for a in progress(range(0, W.shape[0], step), "scoring weights")]
        return torch.cat(parts).clamp_min(0.0)

    def _generic_chunk(self, W: torch.Tensor) -> torch.Tensor:
        F = self.kernel.compute_features(self.X, W).to(torch.float64)  # (n, c, d2)
        c = W.shape[0]
        A = torch.linalg.solve_triangular(self.L, F.reshape(self.n, -1), upper=False)
        return A.pow(2).sum(0).reshape(c, -1).sum(1)

    def _gated_chunk(self, W: torch.Tensor) -> torch.Tensor:
        S = self.kernel.feature_gates(self.X, W).to(torch.float64)  # (n, c) gates s_w
        return ((self._B @ S) * S).sum(0)

    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of K (ascending, clamped at 0); computed once on demand."""
        if self._eigenvalues is None:
            self._eigenvalues = torch.linalg.eigvalsh(self.K).clamp_min(0.0)
        return self._eigenvalues

    def statistical_dimension(self, alpha: float | None = None) -> float:
        """``s_α = Σ λ_i/(λ_i + α)`` from the eigenvalues of K (at this scorer's α by default)."""
        alpha = self.alpha if alpha is None else check_positive(alpha, "alpha")
        if alpha == self.alpha and self._eigenvalues is None:
            # s_α = n − α·tr[(K+αI)⁻¹] = n − α‖L⁻¹‖_F²: reuses the Cholesky (L⁻¹ by LAPACK trtri,
            # n³/3 flops, far cheaper than eigvalsh)
            return float(self.n - alpha * lower_triangular_inverse(self.L).square().sum())
        eig = self.eigenvalues().cpu().numpy()  # called many times by the α' search: stay in NumPy
        return float((eig / (eig + alpha)).sum())

    def at_alpha(self, alpha: float) -> ExactLeverage:
        """The same scorer at another α (shares the eigenvalues already computed)."""
        if alpha == self.alpha:
            return self
        other = ExactLeverage(self.kernel, self.X, alpha, batch_size=self.batch_size, _K=self.K)
        other._eigenvalues = self._eigenvalues
        return other

