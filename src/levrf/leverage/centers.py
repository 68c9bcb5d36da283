"""Ridge leverage scores of *rows* and the choice of Nyström centers by them.

The ridge leverage score of row i is ``ℓ_i(α) = [K (K + αI)⁻¹]_ii`` (the diagonal of the KRR hat
matrix); ``Σ_i ℓ_i = s_α(K)``, the statistical dimension. Rows of high leverage are the ones a
Nyström approximation ``K ≈ K_nC K_CC⁻¹ K_Cn`` most needs among its centers C.

Approximate scores never build an n × n (or n × M) matrix. They rest on the exact identity

    ℓ_i = t_i / (t_i + α),     t_i = K_ii − k_iᵀ (K_{−i} + αI)⁻¹ k_i

(the Schur complement of row i against all the *other* rows: ``1 − ℓ_i = α[(K + αI)⁻¹]_ii``). A
weighted *dictionary* J of rows with inclusion probabilities π_j stands in for the other rows,
``k_iᵀ(K_{−i} + αI)⁻¹k_i ≈ K_iJ (K_JJ + α·diag(π_J))⁻¹ K_Ji`` (each row j weighted 1/π_j: the
estimator of Musco & Musco 2017, Eq. 5, in levrf's unscaled ridge ``K + αI``), and a row that is
itself in the dictionary is left out of it (its ``t_i = 1/E_ii − απ_i`` with
``E = (K_JJ + α·diag(π))⁻¹``, a block-inverse identity), so that no row explains itself. With
J all rows and π = 1 this is ``[K(K + αI)⁻¹]_ii`` exactly; with an empty J it is
``K_ii/(K_ii + α)``, the leverage of the row alone (an upper bound). Musco & Musco score
``t_i/α`` with row i kept in J; leaving it out matters for a high-leverage row drawn into the
dictionary with a small π (its own weight 1/π would explain it away: a 10× underestimate,
measured).

The dictionary is built by the BLESS scheme of Rudi, Calandriello, Carratino & Rosasco 2018
("On fast leverage score sampling and optimal learning", Algorithm 1): start at a ridge
``λ_0 = tr K`` (where ``s_λ ≤ 1``) with an empty dictionary, divide λ by :data:`LEVEL_FACTOR`
per level down to α, and at each level score uniformly drawn candidate rows with the previous
level's dictionary and resample the next dictionary from them with
probability ∝ score. See ``docs/nystroem.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import as_matrix, check_positive, check_positive_int
from ..config import get_budget
from ..kernels import Kernel
from ..rows import Rows, TensorRows
from .resampling import inclusion_probabilities, systematic_sample

#: ratio of successive ridge parameters of the dictionary levels (BLESS's q)
LEVEL_FACTOR = 4.0
#: a level's dictionary holds about this many times the estimated statistical dimension
OVERSAMPLING = 4.0
#: candidate rows scored per level: this many times the dictionary budget
CANDIDATE_FACTOR = 2
#: scores below this fraction of the largest are raised to it before sampling centers, so that
#: rows a dictionary explains completely (score 0 up to rounding) keep a tiny chance
SCORE_FLOOR = 1e-12


@dataclass(frozen=True)
class Dictionary:
    """Weighted rows that estimate ridge leverage scores at one α.

    Attributes
    ----------
    points : torch.Tensor (J, d)
        The dictionary's rows.
    index : torch.Tensor (J,)
        Their indices in the data.
    probability : torch.Tensor (J,)
        Their inclusion probabilities π_j (from the whole data).
    alpha : float
        The ridge parameter the dictionary scores at.
    factor : torch.Tensor (J, J) or None
        Lower Cholesky factor of ``K_JJ + α·diag(π)`` (``None`` for an empty dictionary).
    member_residual : torch.Tensor (J,) or None
        ``t_j`` of each dictionary row against the others: ``1/E_jj − απ_j``.
    """

    points: torch.Tensor
    index: torch.Tensor
    probability: torch.Tensor
    alpha: float
    factor: torch.Tensor | None
    member_residual: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.index.numel())


@dataclass(frozen=True)
class CenterSample:
    """Rows chosen as Nyström centers by their approximate ridge leverage.

    Attributes
    ----------
    index : torch.Tensor (M,)
        Sorted row indices of the centers.
    probability : torch.Tensor (M,)
        Their inclusion probabilities ``π_i = min(1, c·ℓ̃_i)``, ``Σ_i π_i = M`` over all rows.
    leverage : torch.Tensor (M,)
        Their approximate leverage scores ℓ̃_i(α).
    info : dict
        ``statistical_dimension`` (Σ ℓ̃ over all rows), ``dictionary_size``, ``levels`` (the
        ridge parameters of the dictionary levels).
    """

    index: torch.Tensor
    probability: torch.Tensor
    leverage: torch.Tensor
    info: dict = field(default_factory=dict)


def empty_dictionary(d: int, alpha: float, *, dtype: torch.dtype, device: torch.device) -> Dictionary:
    """A dictionary with no rows (scores ``K_ii/(K_ii + α)``)."""
    return Dictionary(torch.empty(0, d, dtype=dtype, device=device), torch.empty(0, dtype=torch.int64),
                      torch.empty(0, dtype=dtype, device=device), float(alpha), None)


def make_dictionary(kernel: Kernel, points: torch.Tensor, index: torch.Tensor, probability: torch.Tensor,
                    alpha: float) -> Dictionary:
    """The dictionary of ``points`` with inclusion probabilities ``probability`` at ridge ``alpha``."""
    if index.numel() == 0:
        return empty_dictionary(points.shape[1], alpha, dtype=points.dtype, device=points.device)
    K = kernel.compute(points, points)
    K = 0.5 * (K + K.T)
    K.diagonal().add_(alpha * probability.to(K.dtype))
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        # K_JJ is PSD and α·π > 0, so only rounding can get here: the eigenvalues of K_JJ below
        # the rounding error of K are what fails; a diagonal of that size fixes it
        eps = torch.finfo(K.dtype).eps * float(K.diagonal().abs().max()) * K.shape[0]
        K.diagonal().add_(eps)
        L, info = torch.linalg.cholesky_ex(K)
        if int(info) != 0:
            raise ValueError(
                f"the kernel matrix of the leverage dictionary is not positive semi-definite for {kernel!r} "
                f"(alpha={alpha:g}); check that the kernel is positive semi-definite or increase alpha"
            )
    # E_jj = ‖L⁻¹e_j‖²: the diagonal of (K_JJ + α·diag(π))⁻¹
    E_diag = (torch.linalg.solve_triangular(L, torch.eye(L.shape[0], dtype=L.dtype, device=L.device), upper=False) ** 2).sum(0)
    residual = (1.0 / E_diag - alpha * probability.to(L.dtype)).clamp_min(0.0)
    return Dictionary(points, index, probability, float(alpha), L, residual)


def dictionary_scores(kernel: Kernel, X: torch.Tensor, dictionary: Dictionary, diag: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """``ℓ̃_i(α) = t̃_i/(t̃_i + α)`` of rows of ``X`` that are *not* in ``dictionary``, in chunks: (b,).

    ``diag`` are ``K(x_i, x_i)`` when already known. Rows of the dictionary get their
    leave-one-out score from :func:`member_scores` instead.
    """
    diag = kernel.diag(X) if diag is None else diag
    alpha = dictionary.alpha
    if dictionary.factor is None:
        residual = diag.clamp_min(0.0)
    else:
        residual = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
        step = get_budget("leverage_row_chunk")  # rows per kernel block (b × |J| intermediates)
        for start in range(0, X.shape[0], step):
            stop = start + step
            KJ = kernel.compute(dictionary.points, X[start:stop])  # (J, b)
            Z = torch.linalg.solve_triangular(dictionary.factor, KJ, upper=False)
            residual[start:stop] = diag[start:stop] - (Z * Z).sum(0)
        residual.clamp_(min=0.0)
    return residual / (residual + alpha)


def member_scores(dictionary: Dictionary) -> torch.Tensor:
    """Leave-one-out ``ℓ̃_j(α)`` of the dictionary's own rows: (J,)."""
    if dictionary.member_residual is None:
        return torch.empty(0, dtype=dictionary.points.dtype, device=dictionary.points.device)
    t = dictionary.member_residual
    return t / (t + dictionary.alpha)


def scores_with_members(kernel: Kernel, X: torch.Tensor, index: torch.Tensor, dictionary: Dictionary,
                        diag: torch.Tensor | None = None) -> torch.Tensor:
    """ℓ̃ of rows ``X`` whose (sorted) global indices are ``index``; dictionary rows among them
    get their leave-one-out score."""
    scores = dictionary_scores(kernel, X, dictionary, diag)
    if dictionary.size:
        where = torch.searchsorted(index, dictionary.index)
        inside = where < index.numel()
        inside[inside.clone()] = index[where[inside]] == dictionary.index[inside]
        scores[where[inside].to(scores.device)] = member_scores(dictionary)[inside.to(scores.device)]
    return scores


def row_leverage_block(X: torch.Tensor, kernel: Kernel, dictionary: Dictionary) -> torch.Tensor:
    """ℓ̃ of a block of rows (a row-wise map of :mod:`levrf.rows`): (b,)."""
    return dictionary_scores(kernel, X.to(dictionary.points.dtype), dictionary)


def bless_dictionary(kernel: Kernel, rows: Rows, alpha: float, size: int, generator: torch.Generator
                     ) -> tuple[Dictionary, dict]:
    """A dictionary of at most ``size`` rows for scoring ridge leverage at ``alpha`` (BLESS).

    One uniform subsample U of ``R = min(n, CANDIDATE_FACTOR·size)`` rows is gathered (one
    ``rows.take``: cost and memory independent of n). Level h divides the ridge,
    ``λ_h = max(α, λ_{h−1}/LEVEL_FACTOR)`` from ``λ_0 = tr K`` (estimated on U), scores U with
    the dictionary of level h−1, estimates ``s_{λ_h} ≈ (n/R)·Σ_U ℓ̃`` and draws the dictionary
    of level h from U: ``t_h = min(size, ⌈OVERSAMPLING·s_{λ_h}⌉)`` rows by systematic PPS
    sampling with probabilities ∝ ℓ̃ within U, so each row's inclusion probability from the
    whole data is ``π_j = (R/n)·π_j^U``. BLESS draws a fresh U per level; one U means one gather,
    which matters for Dask rows. Cost ``O(levels·(R·size² + size³))``.

    Returns the dictionary at ``alpha`` and ``info`` (``levels``: the λ_h; ``dictionary_sizes``).
    """
    n = rows.n_rows
    n_candidates = min(n, CANDIDATE_FACTOR * size)
    cand_index = torch.randperm(n, generator=generator)[:n_candidates].sort().values
    U = rows.take(cand_index).to(torch.float64)
    diag = kernel.diag(U)
    trace = float(diag.sum()) * n / n_candidates
    lam = max(trace, alpha)
    dictionary = empty_dictionary(U.shape[1], lam, dtype=U.dtype, device=U.device)
    levels, sizes = [], []
    while True:
        lam = max(alpha, lam / LEVEL_FACTOR)
        scores = scores_with_members(kernel, U, cand_index, _at_alpha(kernel, dictionary, lam), diag)
        s_hat = float(scores.sum()) * n / n_candidates
        target = min(size, n_candidates, max(1, math.ceil(OVERSAMPLING * s_hat)))
        pi_U = inclusion_probabilities(floored(scores), target)
        chosen = systematic_sample(pi_U, generator).unique().sort().values
        dictionary = make_dictionary(kernel, U[chosen.to(U.device)], cand_index[chosen],
                                     pi_U[chosen].to(U) * (n_candidates / n), lam)
        levels.append(lam)
        sizes.append(dictionary.size)
        if lam <= alpha:
            return dictionary, {"levels": levels, "dictionary_sizes": sizes}


def _at_alpha(kernel: Kernel, dictionary: Dictionary, alpha: float) -> Dictionary:
    """The same dictionary scoring at another ridge (refactorised)."""
    if dictionary.size == 0 or dictionary.alpha == alpha:
        return Dictionary(dictionary.points, dictionary.index, dictionary.probability, alpha, dictionary.factor,
                          dictionary.member_residual)
    return make_dictionary(kernel, dictionary.points, dictionary.index, dictionary.probability, alpha)


def floored(scores: torch.Tensor) -> torch.Tensor:
    """Scores with a floor of :data:`SCORE_FLOOR` times the largest (all ones if all are 0)."""
    top = float(scores.max()) if scores.numel() else 0.0
    if top <= 0.0:
        return torch.ones_like(scores, dtype=torch.float64)
    return scores.to(torch.float64).clamp_min(SCORE_FLOOR * top)


def _check_rows(rows) -> Rows:
    if isinstance(rows, Rows):
        return rows
    return TensorRows(as_matrix(rows, "X", dtype=torch.float64))


def _check_kernel(kernel) -> Kernel:
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a levrf kernel (e.g. levrf.GaussianKernel()), got {kernel!r}")
    return kernel.to("float64")


def approximate_row_leverage(kernel: Kernel, X, alpha: float, *, dictionary_size: int,
                             generator: torch.Generator) -> tuple[np.ndarray, Dictionary, dict]:
    """Approximate ridge leverage scores ``ℓ̃_i(α)`` of every row, without an n × n matrix.

    Parameters
    ----------
    kernel : levrf kernel with a closed form
    X : array-like (n, d) or levrf.rows.Rows
        Rows (a Dask-backed ``Rows`` is scored block by block).
    alpha : float
        Ridge parameter α > 0 of ``K + αI``.
    dictionary_size : int
        Largest dictionary (the cost is ``O(n·size²)`` for the scores plus the levels).
    generator : torch.Generator

    Returns
    -------
    scores : numpy.ndarray (n,)
        ℓ̃_i(α) in [0, 1) (n floats on the client: the only O(n) object).
    dictionary : Dictionary
    info : dict
        ``levels`` and ``dictionary_sizes`` of the BLESS levels.
    """
    kernel = _check_kernel(kernel)
    alpha = check_positive(alpha, "alpha")
    size = check_positive_int(dictionary_size, "dictionary_size")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    rows = _check_rows(X)
    dictionary, info = bless_dictionary(kernel, rows, alpha, size, generator)
    scores = np.array(rows.map(row_leverage_block, kernel, dictionary, n_columns=None), dtype=np.float64)
    scores[dictionary.index.numpy()] = member_scores(dictionary).cpu().numpy()
    return scores, dictionary, info


def exact_row_leverage(kernel: Kernel, X, alpha: float) -> torch.Tensor:
    """``diag(K (K + αI)⁻¹)`` in float64 by one eigendecomposition of the n × n ``K`` (small n only)."""
    kernel = _check_kernel(kernel)
    alpha = check_positive(alpha, "alpha")
    X = as_matrix(X, "X", dtype=torch.float64, device=kernel.torch_device)
    try:
        K = kernel.compute(X, X)
    except NotImplementedError as exc:
        raise ValueError(f"row leverage needs the closed form of {kernel!r}: {exc}") from exc
    s, V = torch.linalg.eigh(0.5 * (K + K.T))
    s = s.clamp_min(0.0)
    return (V * V) @ (s / (s + alpha))


def leverage_centers(kernel: Kernel, X, n_centers: int, alpha: float, *, generator: torch.Generator,
                     dictionary_size: int | None = None) -> CenterSample:
    """``n_centers`` distinct rows drawn with inclusion probability ``π_i = min(1, c·ℓ̃_i(α))``.

    ``c`` makes ``Σ_i π_i = n_centers`` (rows whose ``c·ℓ̃_i`` would exceed 1 are taken for sure);
    systematic PPS sampling in random order (:mod:`levrf.leverage.resampling`) then returns
    exactly ``n_centers`` rows, none twice, row i with probability π_i. Scores below
    :data:`SCORE_FLOOR` times the largest are raised to it first. The Nyström map does not
    weight its centers (``K_xC K_CC⁻¹ K_Cz`` is unchanged by rescaling them), so π only selects.

    ``dictionary_size`` defaults to ``n_centers``.
    """
    kernel = _check_kernel(kernel)
    rows = _check_rows(X)
    m = check_positive_int(n_centers, "n_centers")
    if m > rows.n_rows:
        raise ValueError(f"n_centers={m} exceeds the number of rows ({rows.n_rows})")
    size = m if dictionary_size is None else dictionary_size
    scores, dictionary, info = approximate_row_leverage(kernel, rows, alpha, dictionary_size=size, generator=generator)
    scores_t = torch.from_numpy(scores)
    index, pi = sample_by_leverage(scores_t, m, generator)
    info = {**info, "statistical_dimension": float(scores.sum()), "dictionary_size": dictionary.size}
    return CenterSample(index, pi[index], scores_t[index], info)


def sample_by_leverage(scores: torch.Tensor, m: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index, π)``: m distinct rows (sorted) drawn with inclusion probability
    ``π_i = min(1, c·max(ℓ_i, SCORE_FLOOR·max ℓ))``, ``Σ π = m``, by systematic PPS sampling;
    ``π`` (n,) are the inclusion probabilities of every row."""
    pi = inclusion_probabilities(floored(scores), m)
    # two grid points fall into one interval (length π_i ≤ 1) only through rounding: unique() guards it
    return systematic_sample(pi, generator).unique().sort().values, pi
