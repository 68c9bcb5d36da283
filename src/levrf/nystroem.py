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

import copy
import re
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import (
    as_generator,
    check_positive,
    check_positive_int,
    check_random_state,
    resolve_device,
    resolve_dtype,
)
from .features import check_columns, chunk_rows, record_columns, resolve_kernel
from .kernels import Kernel
from .leverage.centers import leverage_centers
from .rows import Rows, TensorRows, as_rows, is_dask_collection

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


def nystroem_rows(X: torch.Tensor, features: Nystroem) -> torch.Tensor:
    """ψ of some rows (b, r), chunk by chunk (the row-wise map behind ``transform``)."""
    out = torch.empty(X.shape[0], features.n_output_features_, dtype=features.normalization_.dtype)
    for start, block in features.iter_chunks(X, reuse=True):
        out[start : start + block.shape[0]] = block
    return out


class Nystroem(TransformerMixin, BaseEstimator):
    """Nyström features of any kernel with a closed form, centers chosen uniformly or by leverage.

    ``ψ(x) = K(x, C) K_CC^{-1/2}`` for M centers ``C`` taken from the training rows, so that
    ``ψ(x)ᵀψ(z) = K(x, C) K_CC⁺ K(C, z)``. Works with every levrf kernel that has a closed form
    (``kernel.compute``), including ``ReLUNTK`` and ``DeepReLUNTK``.

    Parameters
    ----------
    kernel : levrf kernel, default=None
        ``None`` means ``GaussianKernel(bandwidth=1.0)``.
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

    # ---------------------------------------------------------------- helpers
    def _check_params(self) -> None:
        check_positive_int(self.n_components, "n_components")
        check_centers(self.centers)
        check_positive(self.alpha, "alpha")
        if self.batch_size is not None:
            check_positive_int(self.batch_size, "batch_size")
        resolve_dtype(self.dtype)
        resolve_device(self.device)
        resolve_kernel(self.kernel)

    def _torch_input(self, X, *, reset: bool) -> torch.Tensor:
        try:
            A = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        except (TypeError, ValueError) as exc:
            if re.search(r"\bX\b", str(exc)):
                raise
            cls = TypeError if isinstance(exc, TypeError) else ValueError
            raise cls(f"X is not a valid input: {exc}") from exc
        A = np.ascontiguousarray(A)
        if not A.flags.writeable:  # read-only memmaps: torch cannot wrap them safely
            A = A.copy()
        return torch.from_numpy(A).to(device=resolve_device(self.device), dtype=resolve_dtype(self.dtype))

    def input_rows(self, X, *, reset: bool) -> Rows:
        """``X`` validated as :class:`levrf.rows.Rows` in this map's dtype and device."""
        if is_dask_collection(X):
            rows = as_rows(X, dtype=resolve_dtype(self.dtype), device=resolve_device(self.device))
            record_columns(self, rows) if reset else check_columns(self, rows)
            return rows
        X = self._torch_input(X, reset=reset)
        return TensorRows(X, feature_names=getattr(self, "feature_names_in_", None))

    # ---------------------------------------------------------------- sklearn API
    def fit(self, X, y=None):
        """Choose the centers among the rows of ``X`` and factor ``K_CC``.

        ``X`` may be a Dask array or DataFrame: only the centers (and, for leverage centers, a
        uniform subsample of rows) are gathered; the leverage scores are a map over the blocks.
        """
        self._check_params()
        return self.fit_rows(self.input_rows(X, reset=True))

    def fit_rows(self, rows: Rows):
        """:meth:`fit` on validated :class:`levrf.rows.Rows` (what the ridge estimators call)."""
        self._check_params()
        if not isinstance(rows, Rows):
            raise TypeError(f"rows must be levrf.rows.Rows, got {type(rows).__name__}")
        record_columns(self, rows)
        dtype = resolve_dtype(self.dtype)
        kernel = resolve_kernel(self.kernel).to(self.dtype, self.device)
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
        self.centers_ = C
        self.center_indices_ = index
        self.n_output_features_ = int(self.normalization_.shape[1])
        return self

    def transform(self, X) -> np.ndarray:
        """Ψ = [ψ(x_i)]_i, shape (n, r), as a NumPy array (a lazy Dask array for Dask input)."""
        check_is_fitted(self, "normalization_")
        rows = self.input_rows(X, reset=False)
        return rows.map(nystroem_rows, slim_nystroem(self), n_columns=self.n_output_features_)

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

    def iter_chunks(self, X: torch.Tensor, *, reuse: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(start_row, Ψ[start:start+b])`` over row chunks of a torch tensor.

        With ``reuse=True`` every chunk is written into one buffer (each yielded tensor is
        overwritten by the next one), as :meth:`levrf.RandomFeatures.iter_chunks`.
        """
        step = self.chunk_size(X.shape[0], X.shape[1])
        buffer = None
        if reuse and X.shape[0] > 0:
            buffer = torch.empty(min(step, X.shape[0]), self.n_output_features_,
                                 dtype=self.normalization_.dtype, device=X.device)
        for start in range(0, X.shape[0], step):
            rows = X[start : start + step]
            yield start, self.feature_map(rows, out=None if buffer is None else buffer[: rows.shape[0]])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [self.dtype]
        return tags


def slim_nystroem(features: Nystroem) -> Nystroem:
    """A copy of a fitted map holding only what ψ needs: what is shipped to Dask workers."""
    slim = copy.copy(features)
    slim.leverage_ = slim.inclusion_probabilities_ = None
    slim.sampling_info_ = {}
    return slim
