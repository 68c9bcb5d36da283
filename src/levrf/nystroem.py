"""``Nystroem``: the Nyström feature map ``ψ(x) = K(x, C) K_CC^{-1/2}`` as an sklearn transformer.

With M centers C (rows of the training data, chosen uniformly or by ridge leverage),
``ψ(x)ᵀψ(z) = K(x, C) K_CC⁻¹ K(C, z)``: the Nyström approximation of the kernel. Any N with
``N Nᵀ = K_CC⁻¹`` gives the same ψψᵀ and, the ridge being invariant under rotations of the
features, the same ridge predictor. levrf takes N from a **pivoted Cholesky factorization** of
``K_CC`` (LAPACK ``pstrf``, float64, ~M³/3 flops; the symmetric eigendecomposition it replaced
took ~9M³ and was most of a Nyström fit's time at M ≥ 2,048):

``Pᵀ K_CC P = L Lᵀ``, the pivots taken greedily (largest remaining diagonal first) and the
factorization stopped at the first pivot ``≤ tol = M·eps·max_i K_ii`` (``eps`` of the working
``dtype``). With r pivots kept (the rows ``C_r`` of C), ``N = P_r L_rr⁻ᵀ`` (M × r, zero on the
rows of the other centers), so that ``ψ(x)ᵀψ(z) = K(x, C_r) K_{C_r C_r}⁻¹ K(C_r, z)``.

* When every pivot exceeds ``tol`` (r = M) this is exactly ``K(x, C) K_CC⁻¹ K(C, z)``:
  ``N = P L⁻ᵀ`` is an inverse square root of ``K_CC``, with no jitter.
* When the factorization stops early, the Schur complement left over (the part of ``K_CC`` the r
  centers do not explain) has every diagonal entry ``≤ tol``: duplicated centers, a smooth
  kernel, a low-rank kernel such as ``ReLUNTK`` in few dimensions. ψ uses the r centers that
  explain the rest.

Why ``tol``: a pivot is the computed diagonal of a Schur complement, which after up to M
elimination steps carries a rounding error of up to about ``M·eps·max_i K_ii``; a pivot below it
is indistinguishable from zero (that center is, to rounding, in the span of the kept ones). No
jitter biases the kept directions, and r ≤ M output columns means fewer features for the ridge.
The eigen path levrf used before kept the eigenvalues above ``M·eps·s_max`` instead (``s_max``
up to M times ``max K_ii``): it dropped directions that carry signal and was measurably further
from exact kernel ridge (``docs/nystroem.md`` §1). ``method="eigh"`` still gives it, for
comparison: ``K_CC = U diag(s) Uᵀ``, ``N = U_r diag(s_r)^{-1/2}`` on ``s_k > M·eps·s_max``.

Repeated centers (tabular data with repeated rows) are first reduced to the distinct ones, which
give the same Nyström approximation (:func:`distinct_center_normalization`): the u × u problem
replaces the M × M one. ``sampling_info_["normalization"]`` says how N was computed
(``"cholesky"``: every pivot kept; ``"pivoted cholesky"``: r < u) and
``sampling_info_["distinct_centers"]`` how many distinct centers there were. ``eigenvalues_`` (the
spectrum of ``K_CC``, ~4M³ flops) is computed when first read, not in ``fit``.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import torch
from scipy.linalg import blas, lapack

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
from .rows import Rows
from .scipy_blas import blas_threads

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


def nystroem_normalization(K_CC: torch.Tensor, dtype: torch.dtype, method: str = "auto") -> tuple[torch.Tensor, str]:
    """``(N, how)``: ``N`` (M × r) with ``ψ = K(x, C)·N`` the Nyström features of centers whose
    kernel matrix is ``K_CC``, and ``how`` (``"cholesky"``, ``"pivoted cholesky"`` or ``"eigh"``).

    ``method="auto"``: a pivoted Cholesky factorization stopped at the pivot tolerance
    ``M·eps·max_i K_ii`` (eps of ``dtype``); ``"eigh"``: the eigen path on the eigenvalues above
    ``M·eps·s_max`` (levrf's map before the pivoted factor). See the module docstring.
    """
    if method not in ("auto", "eigh"):
        raise ValueError(f"method must be 'auto' or 'eigh', got {method!r}")
    K = K_CC.to(torch.float64)
    if not bool(torch.isfinite(K).all()):
        raise ValueError("the kernel matrix of the centers is not finite: rescale X or use dtype='float64'")
    K = 0.5 * (K + K.T)
    M = K.shape[0]
    top = float(K.diagonal().max())
    if top <= 0.0:
        raise ValueError("the kernel matrix of the centers is zero (or not positive semi-definite): "
                         "the kernel gives these rows no features")
    eps = torch.finfo(dtype).eps
    if method == "eigh":
        s, U = torch.linalg.eigh(K)
        keep = s > M * eps * float(s[-1])
        return (U[:, keep] / s[keep].sqrt()).to(dtype), "eigh"
    # K is symmetric, so its row-major storage is the column-major storage LAPACK wants: no copy
    with blas_threads(M**3 / 3):
        factor, piv, rank, info = lapack.dpstrf(K.cpu().numpy().T, tol=M * eps * top, lower=1, overwrite_a=1)
    if info < 0 or rank < 1:
        raise ValueError("the kernel matrix of the centers is zero (or not positive semi-definite): "
                         "the kernel gives these rows no features")
    L = torch.from_numpy(factor[:rank, :rank]).tril()
    N_r = lower_triangular_inverse(L).T  # L_rr⁻ᵀ, upper triangular
    N = torch.zeros(M, rank, dtype=torch.float64)
    N[torch.from_numpy(piv[:rank].astype(np.int64) - 1)] = N_r
    return N.to(dtype=dtype, device=K_CC.device), ("cholesky" if rank == M else "pivoted cholesky")


def center_eigenvalues(kernel: Kernel, C: torch.Tensor) -> torch.Tensor:
    """All eigenvalues of ``K_CC`` (float64, descending)."""
    K = check_closed_form(kernel, C).to(torch.float64)
    return torch.linalg.eigvalsh(0.5 * (K + K.T)).flip(0)


def distinct_center_normalization(kernel: Kernel, C: torch.Tensor, dtype: torch.dtype):
    """``(normalization_, how, u)`` for centers ``C`` that may repeat rows.

    Repeated centers add nothing to the Nyström approximation: with ``C = P·C_u`` (P the M × u
    indicator of the u distinct rows, full column rank), ``Pᵀ(P K_uu Pᵀ)⁺P = K_uu⁻¹``, so
    ``K(x, C) K_CC⁺ K(C, z) = K(x, C_u) K_uu⁻¹ K(C_u, z)``. The normalization is computed on the
    distinct centers (u × u instead of M × M: on census2000, 227 distinct rows among 2,048 uniform
    centers) and placed on the rows of their first occurrences (zeros elsewhere), so ψ and
    ``normalization_`` (M × r) keep their meaning.
    """
    M = C.shape[0]
    unique, inverse = torch.unique(C, dim=0, return_inverse=True)
    u = int(unique.shape[0])
    if u == M:
        N, how = nystroem_normalization(check_closed_form(kernel, C), dtype)
        return N, how, u
    order = torch.arange(M, device=inverse.device)
    first = torch.full((u,), M, dtype=order.dtype, device=inverse.device).scatter_reduce_(
        0, inverse, order, reduce="amin")
    N_u, how = nystroem_normalization(check_closed_form(kernel, C[first]), dtype)
    N = torch.zeros(M, N_u.shape[1], dtype=N_u.dtype, device=N_u.device)
    N[first] = N_u
    return N, how, u


#: ``id(N) ↦ (weakref(N), form)`` of :func:`triangular_form`, dropped when N is collected (a refit
#: or a load makes a new N); keyed by id because tensors compare elementwise
_TRIANGULAR_FORMS: dict[int, tuple] = {}


def triangular_form(N: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(order, T)`` with ``N = P·T``: ``T = N[order]`` (r × r) upper triangular and every other
    row of N zero, or ``None`` when N has no such form (the ``"eigh"`` map).

    The pivoted Cholesky map has it by construction (``N = P_r L_rr⁻ᵀ``). Then
    ``ψ(x) = K(x, C[order])·T``: the kernel of the r kept centers only, and a triangular product
    (``trmm``, n·r² flops) in place of the dense ``K(x, C)·N`` (2·n·M·r): the same products, the
    zeros skipped. Read off N itself, so a loaded model gets it too; cached per N.
    """
    cached = _TRIANGULAR_FORMS.get(id(N))
    if cached is not None and cached[0]() is N:
        return cached[1] or None
    nonzero = N != 0
    rows = nonzero.any(1).nonzero().squeeze(1)
    r = N.shape[1]
    form = ()
    if rows.numel() == r:
        first = nonzero[rows].to(torch.uint8).argmax(1)  # the first nonzero column of each kept row
        lead, perm = first.sort()
        if bool((lead == torch.arange(r, device=lead.device)).all()):
            order = rows[perm]
            form = (order, N[order].contiguous())
    key = id(N)
    _TRIANGULAR_FORMS[key] = (weakref.ref(N), form)
    weakref.finalize(N, _TRIANGULAR_FORMS.pop, key, None)
    return form or None


def multiply_upper_triangular_(A: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """``A ← A·T`` in place for a contiguous CPU ``A`` (b × r) and an upper triangular ``T``
    (r × r, contiguous, same dtype): BLAS ``trmm`` on the transposes (``Tᵀ·Aᵀ``, whose
    column-major storage is the row-major storage of ``A·T``)."""
    a, t = A.numpy(), T.numpy()
    trmm = blas.dtrmm if A.dtype == torch.float64 else blas.strmm
    with blas_threads(a.shape[0] * t.shape[0] ** 2):
        result = trmm(1.0, t.T, a.T, side=0, lower=1, trans_a=0, overwrite_b=1)
    if not np.shares_memory(result, a):  # BLAS had to copy (never for contiguous A): write back
        a[...] = result.T
    return A


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
        ``P_r L_rr⁻ᵀ`` from a pivoted Cholesky factorization of ``K_CC`` stopped at the pivot
        tolerance ``M·eps·max_i K_ii`` (eps of ``dtype``): an inverse square root of ``K_CC`` when
        r = M, else that of the r centers that explain ``K_CC`` to that tolerance (zero rows for
        the others; module docstring).
    eigenvalues_ : torch.Tensor (M,)
        All eigenvalues of ``K_CC``, descending (float64); computed when first read.
    leverage_ : torch.Tensor (M,) or None
        Approximate ridge leverage ℓ̃(alpha) of the centers (leverage centers only).
    inclusion_probabilities_ : torch.Tensor (M,) or None
        The probability with which each center was drawn (leverage centers only).
    sampling_info_ : dict
        ``"normalization"`` (``"cholesky"`` or ``"pivoted cholesky"``), ``"distinct_centers"`` and what the leverage sampler reports
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
        self.__dict__.pop("eigenvalues_", None)  # a refit forgets the spectrum of the old centers
        self.normalization_, how, distinct = distinct_center_normalization(kernel, C, dtype)
        self.sampling_info_["normalization"] = how
        self.sampling_info_["distinct_centers"] = distinct
        self.kernel_ = kernel
        self.bandwidth_ = kernel_bandwidth(kernel)
        self.centers_ = C
        self.center_indices_ = index
        self.n_output_features_ = int(self.normalization_.shape[1])
        return self

    def __getattr__(self, name: str):
        """``eigenvalues_`` (all eigenvalues of ``K_CC``, descending, float64) is computed when first
        read and then kept as an ordinary attribute; it is not a class attribute, so a loaded file
        that holds it sets exactly that attribute."""
        state = self.__dict__
        if name != "eigenvalues_" or "centers_" not in state:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        state["eigenvalues_"] = center_eigenvalues(state["kernel_"], state["centers_"])
        return state["eigenvalues_"]

    # ---------------------------------------------------------------- torch API
    def feature_map(self, X: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """ψ for a (validated) torch tensor of rows, in one piece: (n, r); ``out`` may receive it.

        On the CPU, for the pivoted Cholesky map, ``K(X, C_kept)·T`` by a triangular product
        written in place (:func:`triangular_form`); otherwise ``K(X, C)·N``.
        """
        form = triangular_form(self.normalization_) if X.device.type == "cpu" else None
        if form is None or (out is not None and not out.is_contiguous()):
            K = self.kernel_.compute(X, self.centers_)
            return K @ self.normalization_ if out is None else torch.matmul(K, self.normalization_, out=out)
        order, T = form
        out = self.kernel_.compute(X, self.centers_[order], out=out)
        return multiply_upper_triangular_(out, T)

    def feature_factor(self) -> torch.Tensor:
        """``N = normalization_``: ``Ψ = K(X, C)·N`` (see :meth:`levrf.features.FeatureMap.feature_factor`)."""
        return self.normalization_

    def base_width(self) -> int:
        """M, the columns of ``K(X, C)``."""
        return int(self.centers_.shape[0])

    def prepare_base(self) -> object | None:
        """The kernel's :meth:`~levrf.kernels.Kernel.prepare` of the centers."""
        return self.kernel_.prepare(self.centers_)

    def base_features(self, X: torch.Tensor, out: torch.Tensor | None = None, *,
                      prepared: object | None = None) -> torch.Tensor:
        """``K(X, C)`` of the rows ``X``; ``out`` may receive it; ``prepared``: :meth:`prepare_base`."""
        return self.kernel_.compute(X, self.centers_, out=out, prepared=prepared)

    def chunk_size(self, n_rows: int, d: int) -> int:
        """Rows per chunk for this feature map."""
        itemsize = torch.empty((), dtype=resolve_dtype(self.dtype)).element_size()
        # K(x, C) and about two same-sized intermediates of the kernel, plus the output row
        bytes_per_row = itemsize * (3 * self.centers_.shape[0] + self.n_output_features_)
        return chunk_rows(n_rows, bytes_per_row, self.batch_size)
