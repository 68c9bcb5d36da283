"""``Nystroem``: the Nyström feature map ``ψ(x) = K(x, C) K_CC^{-1/2}`` as an sklearn transformer.

With M centers C (rows of the training data, chosen uniformly or by ridge leverage),
``ψ(x)ᵀψ(z) = K(x, C) K_CC⁺ K(C, z)``: the Nyström approximation of the kernel. ``K_CC^{-1/2}`` is
taken from one symmetric eigendecomposition ``K_CC = U diag(s) Uᵀ`` (in float64), keeping the r
eigenvalues ``s_k > M·eps·max(s)`` (``eps`` of the working ``dtype``)::

    normalization_ = U_r diag(s_r)^{-1/2}      (M, r),      ψ(x) = K(x, C) · normalization_   (r,)

Why an eigendecomposition and this threshold: a column of ψ is ``K(x, C) u_k / √s_k``; the
rounding error of ``K(x, C)`` (about eps·max(s)) is divided by √s_k, so directions with
``s_k`` below about M·eps·max(s) carry more rounding than signal. Dropping them is exactly the
pseudo-inverse of the numerically rank-r ``K_CC`` (duplicated centers, a low-rank kernel
such as ``ReLUNTK`` in few dimensions), with no jitter that would bias the kept directions, and
it gives r ≤ M output columns (fewer features for the ridge solve). A Cholesky factor with jitter
would keep M columns, but its jitter is a guess and its columns are not orthogonal in the
Nyström metric.
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


def nystroem_normalization(K_CC: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(U_r diag(s_r)^{-1/2}, s)``: the kept-eigenvalue inverse square root of ``K_CC`` and
    all its eigenvalues (descending), computed in float64; see the module docstring."""
    K = K_CC.to(torch.float64)
    if not bool(torch.isfinite(K).all()):
        raise ValueError("the kernel matrix of the centers is not finite: rescale X or use dtype='float64'")
    s, U = torch.linalg.eigh(0.5 * (K + K.T))
    s, U = s.flip(0), U.flip(1)
    top = float(s[0])
    if top <= 0.0:
        raise ValueError("the kernel matrix of the centers is zero (or not positive semi-definite): "
                         "the kernel gives these rows no features")
    keep = s > K.shape[0] * torch.finfo(dtype).eps * top
    return (U[:, keep] / s[keep].sqrt()).to(dtype), s


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
        ``U_r diag(s_r)^{-1/2}``: the inverse square root of ``K_CC`` on its r numerically
        nonzero eigenvalues (``s_k > M·eps·max(s)``, eps of ``dtype``).
    eigenvalues_ : torch.Tensor (M,)
        All eigenvalues of ``K_CC``, descending (float64).
    leverage_ : torch.Tensor (M,) or None
        Approximate ridge leverage ℓ̃(alpha) of the centers (leverage centers only).
    inclusion_probabilities_ : torch.Tensor (M,) or None
        The probability with which each center was drawn (leverage centers only).
    sampling_info_ : dict
        What the leverage sampler reports (statistical dimension, dictionary size, levels).
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
        self.normalization_, self.eigenvalues_ = nystroem_normalization(check_closed_form(kernel, C), dtype)
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

    def chunk_size(self, n_rows: int, d: int) -> int:
        """Rows per chunk for this feature map."""
        itemsize = torch.empty((), dtype=resolve_dtype(self.dtype)).element_size()
        # K(x, C) and about two same-sized intermediates of the kernel, plus the output row
        bytes_per_row = itemsize * (3 * self.centers_.shape[0] + self.n_output_features_)
        return chunk_rows(n_rows, bytes_per_row, self.batch_size)
