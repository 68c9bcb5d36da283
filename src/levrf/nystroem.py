"""``Nystroem``: the Nyström feature map ``ψ(x) = K(x, C) K_CC^{-1/2}`` as an sklearn transformer.

With M centers C (rows of the training data, chosen uniformly or by ridge leverage),
``ψ(x)ᵀψ(z) = K(x, C) K_CC⁺ K(C, z)``: the Nyström approximation of the kernel. Any N with
``N Nᵀ = K_CC⁺`` on the kept directions gives the same ψψᵀ and, the ridge being invariant under
rotations of the features, the same ridge predictor. levrf keeps, in float64, the r eigenvalues
``s_k > M·eps·max(s)`` of ``K_CC`` (``eps`` of the working ``dtype``) and takes N one of two ways:

* **Cholesky** (tried first): ``K_CC = LLᵀ``, ``N = L⁻ᵀ`` (M × M), used only when the factor
  *proves* that nothing would be dropped: every pivot ``L_ii² ≥ s_min`` must exceed the threshold
  (else N falls back at once, no inverse computed), and then ``‖K_CC‖_F·‖L⁻¹‖_F² < 1/(M·eps)``
  (``s_max ≤ ‖K‖_F``, ``1/s_min ≤ tr K⁻¹ = ‖L⁻¹‖_F²``), so ``s_min > M·eps·s_max``. There the
  features are those of the eigen path times an orthogonal matrix, at a fraction of the cost (one
  Cholesky and one triangular inverse, ~(1/3 + 1/3)·M³ flops, against ~9M³ for ``eigh`` with
  vectors; ``eigenvalues_`` then costs one ``eigvalsh`` without vectors). No jitter is
  added: a failed factor (a numerically singular ``K_CC``: duplicated centers, a smooth or low-rank
  kernel) means eigenvalues would be dropped, and the eigen path does exactly that.
* **eigh** (the fallback): ``K_CC = U diag(s) Uᵀ``, ``normalization_ = U_r diag(s_r)^{-1/2}``
  (M × r).

Repeated centers (tabular data with repeated rows) are first reduced to the distinct ones, which
give the same Nyström approximation (:func:`distinct_center_normalization`): the u × u problem
replaces the M × M one, and the threshold is then ``u·eps·max(s)`` of the distinct centers'
matrix. ``sampling_info_["normalization"]`` says which way N was computed and
``sampling_info_["distinct_centers"]`` how many distinct centers there were. Why the threshold: a column of ψ is
``K(x, C) u_k / √s_k``; the rounding error of ``K(x, C)`` (about eps·max(s)) is divided by √s_k,
so directions with ``s_k`` below about M·eps·max(s) carry more rounding than signal. Dropping them
is exactly the pseudo-inverse of the numerically rank-r ``K_CC`` (duplicated centers, a low-rank
kernel such as ``ReLUNTK`` in few dimensions), with no jitter that would bias the kept directions,
and it gives r ≤ M output columns (fewer features for the ridge solve). A Cholesky factor *with*
jitter would keep M columns of a biased ``(K_CC + jI)^{-1/2}``; levrf uses Cholesky only where no
jitter is needed and nothing is dropped.
"""

from __future__ import annotations

import warnings

import torch

from ._validation import (
    Integer,
    Options,
    Real,
    as_generator,
    check_random_state,
    deprecate_positional_args,
    resolve_device,
    resolve_dtype,
)
from .features import ESTIMATOR_CONSTRAINTS, FeatureMap, chunk_rows, fitted_kernel, kernel_bandwidth
from .kernels import Kernel
from .leverage.centers import leverage_centers
from .leverage.scores import lower_triangular_inverse
from .linalg import NotPositiveDefiniteError, cholesky_factor
from .rows import Rows

#: the ways of choosing centers
CENTERS = ("uniform", "leverage")


def check_centers(centers) -> str:
    """``centers`` must name one of :data:`CENTERS`."""
    if not isinstance(centers, str) or centers not in CENTERS:
        raise ValueError(f"centers must be one of {list(CENTERS)}, got {centers!r}")
    return centers


def check_closed_form(kernel: Kernel, X: torch.Tensor) -> torch.Tensor:
    """``K(X, X)`` of the centers; a ``ValueError`` for kernels without a closed form."""
    try:
        return kernel.compute(X, X)
    except NotImplementedError as exc:
        raise ValueError(f"Nystroem needs the closed form K(x, z) of the kernel {kernel!r}: {exc}") from exc


def _cholesky_normalization(K: torch.Tensor, threshold: float) -> torch.Tensor | None:
    """``L⁻ᵀ`` for ``K = LLᵀ`` (float64) where the factor *proves* that the eigen path would keep
    every eigenvalue (``s_min > threshold·s_max``), else ``None``; see the module docstring."""
    try:
        L, _ = cholesky_factor(K, what="the kernel matrix of the centers", jitter=False)
    except NotPositiveDefiniteError:
        return None  # numerically singular (duplicated centers, a low-rank kernel)
    pivots = L.diagonal().square()
    # each pivot L_ii² (a Schur complement) is >= s_min, and max_i K_ii <= s_max: a small pivot
    # proves that something would be dropped, without the inverse
    if float(pivots.min()) <= threshold * float(K.diagonal().max()):
        return None
    Linv = lower_triangular_inverse(L)
    # s_max <= ‖K‖_F and 1/s_min = ‖K⁻¹‖₂ <= tr K⁻¹ = ‖L⁻¹‖_F²
    if float(torch.linalg.matrix_norm(K)) * float(Linv.square().sum()) * threshold >= 1.0:
        return None
    return Linv.T


def nystroem_normalization(
    K_CC: torch.Tensor, dtype: torch.dtype, method: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(N, s, how)``: an inverse square root ``N`` of ``K_CC`` on its kept eigenvalues, all its
    eigenvalues ``s`` (descending, float64) and ``how`` (``"cholesky"`` or ``"eigh"``).

    ``method="auto"``: ``N = L⁻ᵀ`` from a Cholesky factor when that factor proves that no
    eigenvalue falls below the threshold ``M·eps·max(s)`` (so the eigen path would keep all M and
    the two maps differ by a rotation), else ``U_r diag(s_r)^{-1/2}`` from ``eigh``; ``"eigh"``
    forces the latter. See the module docstring.
    """
    if method not in ("auto", "eigh"):
        raise ValueError(f"method must be 'auto' or 'eigh', got {method!r}")
    K = K_CC.to(torch.float64)
    if not bool(torch.isfinite(K).all()):
        raise ValueError("the kernel matrix of the centers is not finite: rescale X or use dtype='float64'")
    K = 0.5 * (K + K.T)
    M = K.shape[0]
    threshold = M * torch.finfo(dtype).eps
    if float(K.diagonal().max()) <= 0.0:
        raise ValueError("the kernel matrix of the centers is zero (or not positive semi-definite): "
                         "the kernel gives these rows no features")
    N = _cholesky_normalization(K, threshold) if method == "auto" else None
    if N is not None:
        return N.to(dtype), torch.linalg.eigvalsh(K).flip(0), "cholesky"
    s, U = torch.linalg.eigh(K)
    s, U = s.flip(0), U.flip(1)
    top = float(s[0])
    if top <= 0.0:
        raise ValueError("the kernel matrix of the centers is zero (or not positive semi-definite): "
                         "the kernel gives these rows no features")
    keep = s > threshold * top
    return (U[:, keep] / s[keep].sqrt()).to(dtype), s, "eigh"


def distinct_center_normalization(kernel: Kernel, C: torch.Tensor, dtype: torch.dtype):
    """``(normalization_, eigenvalues_, how, u)`` for centers ``C`` that may repeat rows.

    Repeated centers add nothing to the Nyström approximation: with ``C = P·C_u`` (P the M × u
    indicator of the u distinct rows, full column rank), ``Pᵀ(P K_uu Pᵀ)⁺P = K_uu⁻¹``, so
    ``K(x, C) K_CC⁺ K(C, z) = K(x, C_u) K_uu⁻¹ K(C_u, z)``. The normalization is computed on the
    distinct centers (u × u instead of M × M: on census2000, 227 distinct rows among 2,048 uniform
    centers) and placed on the rows of their first occurrences (zeros elsewhere), so ψ and
    ``normalization_`` (M × r) keep their meaning. ``eigenvalues_`` are still those of ``K_CC``:
    the nonzero ones are the eigenvalues of ``D^{1/2} K_uu D^{1/2}`` (D the multiplicities),
    the other M − u are 0.
    """
    M = C.shape[0]
    unique, inverse = torch.unique(C, dim=0, return_inverse=True)
    u = int(unique.shape[0])
    if u == M:
        N, s, how = nystroem_normalization(check_closed_form(kernel, C), dtype)
        return N, s, how, u
    order = torch.arange(M, device=inverse.device)
    first = torch.full((u,), M, dtype=order.dtype, device=inverse.device).scatter_reduce_(
        0, inverse, order, reduce="amin")
    K_uu = check_closed_form(kernel, C[first])
    N_u, _, how = nystroem_normalization(K_uu, dtype)
    N = torch.zeros(M, N_u.shape[1], dtype=N_u.dtype, device=N_u.device)
    N[first] = N_u
    root = torch.bincount(inverse, minlength=u).to(torch.float64).sqrt().to(K_uu.device)
    K = K_uu.to(torch.float64)
    weighted = root[:, None] * (0.5 * (K + K.T)) * root[None, :]
    s = torch.zeros(M, dtype=torch.float64, device=K.device)
    s[:u] = torch.linalg.eigvalsh(weighted).flip(0)
    return N, s, how, u


class Nystroem(FeatureMap):
    """Nyström features of any kernel with a closed form, centers chosen uniformly or by leverage.

    ``ψ(x) = K(x, C) K_CC^{-1/2}`` for M centers ``C`` taken from the training rows, so that
    ``ψ(x)ᵀψ(z) = K(x, C) K_CC⁺ K(C, z)``. Works with every levrf kernel that has a closed form
    (``kernel.compute``), including ``ReLUNTK`` and ``DeepReLUNTK``.

    Parameters
    ----------
    kernel : levrf kernel, default=None
        ``None`` means ``GaussianKernel()``; ``bandwidth="auto"`` is resolved from the training
        rows in ``fit``.
    n_components : int, default=100
        Number of centers M (capped at the number of rows, with a warning).
    centers : {"uniform", "leverage"}, default="uniform"
        ``"uniform"``: M distinct rows uniformly at random (scikit-learn's and Falkon's choice).
        ``"leverage"``: M distinct rows drawn with probability ``min(1, c·ℓ̃_i(alpha))`` for
        approximate ridge leverage scores ℓ̃ of ``K + alpha·I`` computed without an n × n
        matrix (BLESS, :mod:`levrf.leverage.centers`; ``docs/nystroem.md``).
    alpha : float, default=1.0
        The ridge parameter the centers are meant for (leverage centers only).
    batch_size : int, optional
        Rows per chunk when evaluating the features; by default chosen from a memory budget.
    dtype : {"float64", "float32"}, default="float64"
    device : str, default="cpu"
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the choice of centers; ``None`` means seed 0 (see ``levrf.RandomFeatures``).

    Attributes
    ----------
    kernel_ : levrf kernel
        The kernel used, in ``dtype`` on ``device``, ``bandwidth="auto"`` resolved.
    bandwidth_ : float or None
        The bandwidth of ``kernel_`` (``None`` for kernels without one).
    centers_ : torch.Tensor (M, d)
        The centers C.
    center_indices_ : torch.Tensor (M,)
        Their (sorted) row indices in the training data.
    normalization_ : torch.Tensor (M, r)
        An inverse square root of ``K_CC`` on its r numerically nonzero eigenvalues
        (``s_k > M·eps·max(s)``, eps of ``dtype``): ``L⁻ᵀ`` (r = M) where a Cholesky factor proves
        that none is dropped, else ``U_r diag(s_r)^{-1/2}`` (module docstring).
    eigenvalues_ : torch.Tensor (M,)
        All eigenvalues of ``K_CC``, descending (float64).
    leverage_ : torch.Tensor (M,) or None
        Approximate ridge leverage ℓ̃(alpha) of the centers (leverage centers only).
    inclusion_probabilities_ : torch.Tensor (M,) or None
        The probability with which each center was drawn (leverage centers only).
    sampling_info_ : dict
        ``"normalization"`` (``"cholesky"`` or ``"eigh"``) and what the leverage sampler reports
        (statistical dimension, dictionary size, levels).
    n_output_features_ : int
        r ≤ M.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np, levrf
    >>> X = np.random.default_rng(0).standard_normal((300, 3))
    >>> Psi = levrf.Nystroem(levrf.GaussianKernel(2.0), n_components=50).fit_transform(X)
    >>> Psi.shape
    (300, 50)
    """

    _parameter_constraints = {
        **ESTIMATOR_CONSTRAINTS,
        "n_components": Integer(1),
        "centers": Options(*CENTERS),
        "alpha": Real(0.0),
    }
    _output_prefix = "nystroem"
    _diagnostics = ("leverage_", "inclusion_probabilities_", "sampling_info_")

    @deprecate_positional_args
    def __init__(
        self,
        kernel=None,
        *,
        n_components: int = 100,
        centers: str = "uniform",
        alpha: float = 1.0,
        batch_size: int | None = None,
        dtype: str = "float64",
        device: str = "cpu",
        random_state=None,
    ) -> None:
        self.kernel = kernel
        self.n_components = n_components
        self.centers = centers
        self.alpha = alpha
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.random_state = random_state

    # ---------------------------------------------------------------- fit
    def _fit_rows(self, rows: Rows):
        """Choose the centers among the rows and factor ``K_CC``; for Dask rows only the centers
        (and, for leverage centers, a uniform subsample of rows) are gathered, the leverage
        scores are a map over the blocks."""
        dtype = resolve_dtype(self.dtype)
        kernel = fitted_kernel(self.kernel, rows, self.dtype, self.device)
        n = rows.n_rows
        m = int(self.n_components)
        if m > n:
            warnings.warn(
                f"n_components={m} > n_samples={n}: every row is a center (n_components is taken as {n})",
                UserWarning, stacklevel=2,
            )
            m = n
        generator = as_generator(check_random_state(self.random_state))
        self.leverage_ = self.inclusion_probabilities_ = None
        self.sampling_info_ = {}
        if self.centers == "uniform" or m == n:
            index = torch.randperm(n, generator=generator)[:m].sort().values
        else:
            sample = leverage_centers(kernel, rows, m, float(self.alpha), generator=generator)
            index = sample.index
            like = {"dtype": dtype, "device": rows.device}
            self.leverage_ = sample.leverage.to(**like)
            self.inclusion_probabilities_ = sample.probability.to(**like)
            self.sampling_info_ = dict(sample.info)
        C = rows.take(index).to(dtype=dtype, device=resolve_device(self.device))
        self.normalization_, self.eigenvalues_, how, distinct = distinct_center_normalization(kernel, C, dtype)
        self.sampling_info_["normalization"] = how
        self.sampling_info_["distinct_centers"] = distinct
        self.kernel_ = kernel
        self.bandwidth_ = kernel_bandwidth(kernel)
        self.centers_ = C
        self.center_indices_ = index
        self.n_output_features_ = int(self.normalization_.shape[1])
        return self

    # ---------------------------------------------------------------- torch API
    def feature_map(self, X: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """ψ for a (validated) torch tensor of rows, in one piece: (n, r); ``out`` may receive it."""
        K = self.kernel_.compute(X, self.centers_)
        if out is None:
            return K @ self.normalization_
        return torch.matmul(K, self.normalization_, out=out)

    def feature_factor(self) -> torch.Tensor:
        """``N = normalization_``: ``Ψ = K(X, C)·N`` (see :meth:`levrf.features.FeatureMap.feature_factor`)."""
        return self.normalization_

    def base_width(self) -> int:
        """M, the columns of ``K(X, C)``."""
        return int(self.centers_.shape[0])

    def base_features(self, X: torch.Tensor) -> torch.Tensor:
        """``K(X, C)`` of the rows ``X``."""
        return self.kernel_.compute(X, self.centers_)

    def chunk_size(self, n_rows: int, d: int) -> int:
        """Rows per chunk for this feature map."""
        itemsize = torch.empty((), dtype=resolve_dtype(self.dtype)).element_size()
        # K(x, C) and about two same-sized intermediates of the kernel, plus the output row
        bytes_per_row = itemsize * (3 * self.centers_.shape[0] + self.n_output_features_)
        return chunk_rows(n_rows, bytes_per_row, self.batch_size)
