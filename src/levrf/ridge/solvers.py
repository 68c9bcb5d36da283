"""Linear algebra shared by the ridge estimators.

- :func:`cholesky_solve` solves a symmetric positive definite system ``A X = B``, retrying with
  a small diagonal *jitter* when ``A`` is numerically singular (the factorization and its jitter
  policy are :func:`levrf.linalg.cholesky_factor`, shared by every caller in levrf).
- :class:`NormalEquations` accumulates ``G = ΨᵀΨ`` and ``R = ΨᵀY`` over row chunks of Ψ, so that
  Ψ (n × D) never exists in memory at once.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import blas

from .._validation import numpy_dtype
from ..linalg import JITTER_TRIES, JitterWarning, cholesky_factor, shifted_cholesky, solve_with_factor
from ..scipy_blas import blas_threads

__all__ = [
    "JITTER_TRIES",
    "JitterWarning",
    "NormalEquations",
    "cholesky_factor",
    "cholesky_solve",
    "ridge_factor",
    "ridge_solve",
    "shifted_cholesky",
    "symmetric_from_lower",
]

#: smallest D for which the multithreaded syrk path is used (see NormalEquations)
SYRK_MIN_THREADED_DIM = 1024


def cholesky_solve(A: torch.Tensor, B: torch.Tensor, *, what: str = "the system matrix") -> tuple[torch.Tensor, float]:
    """Solve ``A X = B`` for symmetric positive definite ``A`` by a Cholesky factorization.

    When the factorization fails (``A`` is numerically singular, e.g. ``K + αI`` with α below
    the rounding error of ``K``), it is retried with ``A + jitter·I`` for
    ``jitter = 10**k · eps · mean(diag A)``, ``k = 0, …, 5`` (``eps`` the machine epsilon of the
    dtype), and a :class:`JitterWarning` reports the jitter used. If every try fails a
    ``numpy.linalg.LinAlgError`` (a ``ValueError``) explains what to change.

    Parameters
    ----------
    A : torch.Tensor (D, D)
        Symmetric positive (semi-)definite matrix; only its lower triangle is read.
    B : torch.Tensor (D,) or (D, k)
        Right-hand side(s).
    what : str
        How ``A`` is named in warnings and errors (e.g. ``"K + alpha*I"``).

    Returns
    -------
    X : torch.Tensor, same shape as ``B``
    jitter : float
        The diagonal jitter that was added (0.0 when none was needed).
    """
    if B.shape[0] != A.shape[0]:
        raise ValueError(f"right-hand side has {B.shape[0]} rows but {what} has {A.shape[0]}")
    L, jitter = cholesky_factor(A, what=what)
    X = solve_with_factor(B[:, None] if B.ndim == 1 else B, L)
    return (X[:, 0] if B.ndim == 1 else X), jitter


def _syrk_for(dtype: torch.dtype):
    return {torch.float64: blas.dsyrk, torch.float32: blas.ssyrk}.get(dtype)


class NormalEquations:
    """Streaming accumulator of ``G = ΨᵀΨ`` (D × D) and ``R = ΨᵀY`` (D × k).

    On the CPU the Gram update is SciPy's BLAS ``syrk`` (rank-b update of one triangle: half
    the flops of a GEMM), run with ``torch.get_num_threads()`` threads so that one setting
    governs all of levrf's threads. Multithreaded OpenBLAS ``syrk`` was measured to be slow
    for D < :data:`SYRK_MIN_THREADED_DIM` (0.1–0.7× of ``torch.matmul`` with 2 threads, vs
    ~2× single-threaded and for D ≥ 1024), so there, with more than one thread, the update
    is ``torch.addmm`` (MKL GEMM) into the same storage. On other devices it is always
    ``torch.addmm``.

    With ``gram_dtype`` other than ``dtype`` the chunks are rounded to ``gram_dtype`` for the
    Gram update and ``G`` is accumulated in ``gram_dtype``; ``R`` is always accumulated in
    ``dtype``, and :meth:`gram` returns ``G`` in the wider of the two. ``gram_dtype=float32``
    with float64 chunks runs the Gram update at single-precision speed (about twice the float64
    rate on CPUs) at the cost of a relative error of a few float32 epsilons in ``G``, which
    :func:`levrf.ridge.random_features.refine_ridge_solution` removes from the solution.

    Parameters
    ----------
    n_columns : int
        D, the number of columns of Ψ.
    n_targets : int
        k, the number of columns of Y (0 to accumulate G alone).
    dtype, device : torch dtype and device of the chunks that will be added.
    gram_dtype : torch dtype, optional
        Precision of the per-chunk Gram products; ``None`` means ``dtype``.
    """

    def __init__(
        self,
        n_columns: int,
        n_targets: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        gram_dtype: torch.dtype | None = None,
    ) -> None:
        self.n_columns = int(n_columns)
        self.n_targets = int(n_targets)
        self.dtype = dtype
        self.device = torch.device(device)
        self.gram_dtype = dtype if gram_dtype is None else gram_dtype
        self.n_rows = 0
        self._out_dtype = torch.promote_types(dtype, self.gram_dtype)
        self._syrk = _syrk_for(self.gram_dtype) if self.device.type == "cpu" else None
        if self._syrk is not None:
            # Fortran order so that syrk updates it in place (its upper triangle only);
            # _Gt is a torch view of the same memory for the addmm updates
            self._G = np.zeros((self.n_columns, self.n_columns), dtype=numpy_dtype(self.gram_dtype), order="F")
            self._Gt = torch.from_numpy(self._G)
        else:
            self._Gt = torch.zeros(self.n_columns, self.n_columns, dtype=self.gram_dtype, device=self.device)
        self.R = torch.zeros(self.n_columns, self.n_targets, dtype=dtype, device=self.device)

    def add(self, Psi: torch.Tensor, Y: torch.Tensor | None = None) -> None:
        """Add the rows ``Psi`` (b, D) and their targets ``Y`` (b, k)."""
        if Psi.shape[1] != self.n_columns:
            raise ValueError(f"Psi has {Psi.shape[1]} columns, expected {self.n_columns}")
        if Psi.shape[0] == 0:
            return
        if self.n_targets:
            if Y is None or Y.shape != (Psi.shape[0], self.n_targets):
                raise ValueError(f"Y must have shape ({Psi.shape[0]}, {self.n_targets})")
            self.R.addmm_(Psi.T, Y)
        P = Psi.detach().to(self.gram_dtype)
        threads = torch.get_num_threads()
        if self._syrk is not None and (threads == 1 or self.n_columns >= SYRK_MIN_THREADED_DIM):
            P = P.contiguous().numpy()
            # P is C-ordered (b, D), so P.T is a Fortran-ordered (D, b) matrix A and A Aᵀ = ΨᵀΨ
            with blas_threads(P.shape[0] * self.n_columns**2):
                out = self._syrk(1.0, P.T, beta=1.0, c=self._G, trans=0, lower=0, overwrite_c=1)
            if out is not self._G:  # syrk worked on a copy: keep our storage authoritative
                self._G[...] = out
        else:
            self._Gt.addmm_(P.T, P)
        self.n_rows += Psi.shape[0]

    def gram(self) -> torch.Tensor:
        """The full symmetric ``G = ΨᵀΨ`` accumulated so far (in the wider of the two dtypes)."""
        if self._syrk is None:
            return self._Gt.to(self._out_dtype, copy=True)
        U = torch.from_numpy(self._G)  # syrk filled the upper triangle only
        G = U.triu().to(self._out_dtype)
        G += U.triu(1).T
        return G


    def gram_lower(self) -> torch.Tensor:
        """``G`` in ``gram_dtype`` with only its lower triangle meaningful, without a copy on the
        CPU: all a Cholesky factorization reads, spared :meth:`gram`'s mirroring and conversion."""
        if self._syrk is None:
            return self._Gt
        return torch.from_numpy(self._G).T  # syrk's upper triangle, seen transposed


def symmetric_from_lower(G: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose lower triangle is that of ``G`` (a new tensor)."""
    S = G.tril()
    S += G.tril(-1).T
    return S


def ridge_factor(G: torch.Tensor, alpha: float, *, what: str = "Psi^T Psi + alpha*I"):
    """Cholesky factor of ``G + αI`` by :func:`levrf.linalg.shifted_cholesky` (which reads the
    lower triangle only); returns ``(L, jitter)``."""
    return shifted_cholesky(G, alpha, what=what)


def ridge_solve(G: torch.Tensor, R: torch.Tensor, alpha: float, *, what: str = "Psi^T Psi + alpha*I"):
    """``β = (G + αI)⁻¹ R`` by :func:`cholesky_solve`; returns ``(β, jitter)``."""
    A = G.clone()
    A.diagonal().add_(alpha)
    return cholesky_solve(A, R, what=what)
