"""Matrix-free preconditioned conjugate gradient (``solver="cg"``) for random-feature and Nyström ridge.

Solves the system of the direct fit (:mod:`levrf.ridge.random_features`)::

    A β = R,    A = ΨᵀΨ + αI,    R = ΨᵀY
    (fit_intercept: A v = Ψᵀ(Ψv) − n μ(μᵀv) + αv,  R = ΨᵀY − n μ ȳᵀ,  intercept ȳ − μᵀβ)

without forming ΨᵀΨ (O(n D²)) and without storing Ψ. The feature map factors as ``Ψ = B·N``
(:meth:`levrf.features.FeatureMap.feature_factor`): random features have ``B = Ψ``, ``N = None``;
Nyström has ``B = K(X, C)`` (n × M) and ``N = K_CC^{-1/2}`` (M × r), so ``Ψv = B(Nv)`` and
``Ψᵀu = Nᵀ(Bᵀu)`` cost O(n·M) after the kernel evaluation, never the O(n·M·r) product ``B·N``
(Falkon's trick, Rudi, Carratino & Rosasco 2017).

Passes over the rows. A first pass (:func:`cg_rhs_block`) sums ``BᵀY``, ``Σ b_i`` and ``Σ y_i``
(O(n·D)); each iteration is **one** ``rows.sum`` pass (:func:`cg_product_block`) giving
``Bᵀ(B V)`` for the search directions of every target at once, so a Dask collection is streamed
once per iteration through the same code. When the base matrix ``B`` fits the ``cg_cache_bytes``
budget of :mod:`levrf.config` (rows in memory only), it is computed once and every iteration is
two GEMMs on it; otherwise it is recomputed chunk by chunk in every pass.

The iteration is preconditioned CG run independently on every target column (vectorised: a
step size per column; a column stops moving once its own relative residual is ≤ ``tol``),
stopped when ``‖R − Aβ‖_F / ‖R‖_F ≤ tol``; the iterate of smallest residual is returned. The
preconditioner is the Cholesky factor of

    P = (n/r)·(Ψ_SᵀΨ_S − r·μ_S μ_Sᵀ) + αI        (the −r·μ_Sμ_Sᵀ term only with fit_intercept)

for r rows S: the Nyström–Falkon preconditioner (Rudi, Carratino, Rosasco 2017, "FALKON: An
Optimal Large Scale Kernel Method"; Meanti, Carratino, Rosasco, Rudi 2020, "Kernel methods
through the roof"). For Nyström maps with uniformly chosen centers, S is the centers (r = M,
no extra pass: ``Ψ_C`` is the map of ``centers_``); for random features and for leverage
centers (a non-uniform sample, for which ``(n/M)·Ψ_CᵀΨ_C`` is a biased estimate of ΨᵀΨ) S is a
uniform row subsample of ``r = min(n, PRECONDITIONER_ROWS_PER_FEATURE·D)`` rows gathered by
``rows.take``, seeded by ``random_state``. The centring uses the subsample's own mean μ_S, which
keeps P positive definite (it is n times the subsample covariance plus αI); the full mean
would not.

Precision. The CG vectors and scalars, the first pass and ``R`` are always float64. With
``dtype="float32"`` or ``gram_dtype="float32"`` the iteration passes run their products in
float32 until the recursive residual reaches ``max(tol, FLOAT32_PHASE_TOL)``; then one float64
pass measures the true residual of that iterate (features of float32 data are computed in
float32 and cast). If it exceeds ``tol``, CG continues from it with float64 products (the
``max_iter`` cap counts both phases). ``cg_residuals_`` lists the recursive residuals of the
float32 phase, then the checked one, then those of the float64 phase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._validation import as_generator, check_random_state
from ..config import get_budget
from ..linalg import shifted_cholesky, solve_with_factor
from ..progress import progress_bar
from ..rows import Rows
from ._base import check_finite
from .solvers import NormalEquations

#: iteration cap of ``solver="cg"`` when ``max_iter=None``
DEFAULT_MAX_ITER = 200
#: largest ``max_iter`` accepted: ``cg_residuals_`` has at most ``max_iter + 2`` entries, and a
#: model file holds lists of up to 4,096 items (``levrf.persistence.MAX_ITEMS``); a problem that
#: needs more iterations is one for ``solver="cholesky"``
MAX_ITER_LIMIT = 4000
#: rows of the uniform subsample S of the preconditioner per feature: ``r = min(n, c·D)``
PRECONDITIONER_ROWS_PER_FEATURE = 2
#: the float32 phase stops at this relative residual (``tol`` if larger): about where float32
#: products stop improving the true residual; the float64 phase takes it on to ``tol``
FLOAT32_PHASE_TOL = 100 * torch.finfo(torch.float32).eps

#: bytes of cached base features per block of a CG product ``Bᵀ(B V)``: the block is read twice,
#: the second time from cache (256 rows at M = 2,048 in float64; 0.78× the time of 2,000-row
#: blocks on 20,000 × 2,048 in a development run on the 2-core machine)
PRODUCT_BLOCK_BYTES = 4 * 2**20
#: bytes of base features per chunk of an uncached CG product: each chunk is evaluated and then
#: read twice (``B V``, ``Bᵀ(·)``) while it is still in cache. 16 MiB (128 rows at M = 16,384)
#: took 1.8 ns per row and center, against 2.3–2.7 ns with the 128 MiB feature chunks, for a
#: Nyström pass over 16,384 rows (Gaussian kernel; development run on the 2-core machine)
UNCACHED_PRODUCT_BYTES = 16 * 2**20

F64 = torch.float64


# ============================================================================ block functions
def cg_rhs_block(X: torch.Tensor, Y: torch.Tensor, start: int, features) -> dict:
    """First pass (a block function of :mod:`levrf.rows`): ``Σ Bᵀy`` (``"base_xty"``),
    ``Σ b_i`` (``"base_sum"``) and ``Σ y_i`` (``"y_sum"``), in float64; no Gram."""
    w, k = features.base_width(), Y.shape[1]
    xty = torch.zeros(w, k, dtype=F64, device=X.device)
    base_sum = torch.zeros(w, dtype=F64, device=X.device)
    for s, B in features.iter_base_chunks(X, reuse=True):
        Bd = B.to(F64)
        xty.addmm_(Bd.T, Y[s : s + B.shape[0]].to(F64))
        base_sum += Bd.sum(0)
    return {"base_xty": xty, "base_sum": base_sum, "y_sum": Y.to(F64).sum(0)}


def cg_product_block(X: torch.Tensor, Y, start: int, features, V: torch.Tensor, dtype: torch.dtype) -> dict:
    """One CG pass: ``Σ Bᵀ(B V)`` of the block (``"base_product"``, float64) for the base-space
    directions ``V`` (w, k), the products computed in ``dtype``."""
    out = torch.zeros(V.shape, dtype=F64, device=X.device)
    Vc = V.to(dtype)
    for _s, B in features.iter_base_chunks(X, reuse=True, max_bytes=UNCACHED_PRODUCT_BYTES):
        Bc = B.to(dtype)
        out += (Bc.T @ (Bc @ Vc)).to(F64)
    return {"base_product": out}


# ============================================================================ the operator
class GramOperator:
    """``P ↦ Ψᵀ(ΨP)`` over all rows, ``Ψ = B·N`` never formed (see the module docstring).

    ``cache=True`` computes ``B`` once when it fits the ``cg_cache_bytes`` budget and the rows
    are in memory; :attr:`cached` says whether it did. :attr:`passes` counts the passes over
    the rows (or over the cache).
    """

    def __init__(self, features, rows: Rows, *, cache: bool = True) -> None:
        self.features, self.rows = features, rows
        N = features.feature_factor()
        self.N = None if N is None else N.to(device=rows.device, dtype=F64)
        self.width = features.base_width()
        self.B: torch.Tensor | None = None
        self.passes = 0
        if cache and fits_cache(rows, self.width):
            self.B = torch.empty(rows.n_rows, self.width, dtype=rows.dtype, device=rows.device)
            for s, Bc in features.iter_base_chunks(rows.X, reuse=True):
                self.B[s : s + Bc.shape[0]] = Bc
            self._step = features.chunk_size(rows.n_rows, rows.n_columns)

    @property
    def cached(self) -> bool:
        return self.B is not None

    def _cache_chunks(self, step: int | None = None):
        step = self._step if step is None else step
        for s in range(0, self.B.shape[0], step):
            yield s, self.B[s : s + step]

    def _cache_block_rows(self) -> int:
        """Rows of a cached block of :data:`PRODUCT_BLOCK_BYTES`: ``Bᵀ(B V)`` reads each block twice."""
        return max(1, PRODUCT_BLOCK_BYTES // (self.width * self.B.element_size()))

    def right_hand_side(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ΨᵀY, Σψ_i, Σy_i)`` in float64, from one pass."""
        self.passes += 1
        if self.B is None:
            sums = self.rows.sum(cg_rhs_block, self.features)
            xty, base_sum, y_sum = sums["base_xty"], sums["base_sum"], sums["y_sum"]
        else:
            Y = self.rows.Y.to(F64)
            xty = torch.zeros(self.width, Y.shape[1], dtype=F64, device=Y.device)
            base_sum = torch.zeros(self.width, dtype=F64, device=Y.device)
            for s, Bc in self._cache_chunks():
                Bd = Bc.to(F64)
                xty.addmm_(Bd.T, Y[s : s + Bc.shape[0]])
                base_sum += Bd.sum(0)
            y_sum = Y.sum(0)
        xty = check_finite(xty.to(F64), "products Psi^T y")
        return self._from_base(xty), self._from_base(base_sum.to(F64)), y_sum.to(F64)

    def _from_base(self, U: torch.Tensor) -> torch.Tensor:
        return U if self.N is None else self.N.T @ U

    def __call__(self, P: torch.Tensor, dtype: torch.dtype = F64) -> torch.Tensor:
        """``Ψᵀ(ΨP)`` (float64) for float64 ``P`` (D, k), the pass's products in ``dtype``."""
        self.passes += 1
        V = P if self.N is None else self.N @ P
        if self.B is None:
            U = self.rows.sum(cg_product_block, self.features, V, dtype)["base_product"]
        else:
            U = torch.zeros(V.shape, dtype=F64, device=V.device)
            Vc = V.to(dtype)
            for _s, Bc in self._cache_chunks(self._cache_block_rows()):
                Bd = Bc.to(dtype)
                U += (Bd.T @ (Bd @ Vc)).to(F64)
        return self._from_base(U.to(F64))


def fits_cache(rows: Rows, width: int) -> bool:
    """Whether the n × width base matrix of in-memory rows fits the ``cg_cache_bytes`` budget."""
    itemsize = torch.empty((), dtype=rows.dtype).element_size()
    return bool(rows.in_memory) and rows.n_rows * width * itemsize <= get_budget("cg_cache_bytes")


# ============================================================================ preconditioner
def preconditioner_rows(n_rows: int, n_features: int) -> int:
    """``r = min(n, PRECONDITIONER_ROWS_PER_FEATURE·D)`` rows of the subsample preconditioner."""
    return min(int(n_rows), PRECONDITIONER_ROWS_PER_FEATURE * int(n_features))


def uses_center_preconditioner(features) -> bool:
    """Falkon's preconditioner on the centers: a center map (``centers_``) whose centers were
    drawn uniformly (``centers="uniform"``, or every row a center)."""
    if features.feature_factor() is None:
        return False
    return getattr(features, "inclusion_probabilities_", None) is None


def subsample_index(n_rows: int, r: int, random_state) -> torch.Tensor:
    """A sorted uniform sample of ``r`` distinct row indices, seeded by ``random_state``."""
    generator = as_generator(check_random_state(random_state))
    return torch.randperm(int(n_rows), generator=generator)[: int(r)].sort().values


def preconditioner_factor(features, rows: Rows, alpha: float, *, fit_intercept: bool, random_state=None
                          ) -> tuple[torch.Tensor, float, int]:
    """Cholesky factor of ``(n/r)·(Ψ_SᵀΨ_S − r·μ_Sμ_Sᵀ) + αI`` (float64); see the module docstring.

    Returns ``(L, jitter, r)``: the jitter of :func:`levrf.linalg.shifted_cholesky` (recorded,
    not warned: the preconditioner only has to be close to the system) and the rows used.
    """
    n, D = rows.n_rows, int(features.n_output_features_)
    if uses_center_preconditioner(features):
        XS = features.centers_
    else:
        XS = rows.take(subsample_index(n, preconditioner_rows(n, D), random_state))
    r = int(XS.shape[0])
    gram = NormalEquations(D, 0, dtype=F64, device=rows.device)  # a syrk on the CPU: half a GEMM's flops
    psi_sum = torch.zeros(D, dtype=F64, device=rows.device)
    for _s, Psi in features.iter_chunks(XS.to(device=rows.device), reuse=True):
        P = Psi.to(F64)
        gram.add(P)
        psi_sum += P.sum(0)
    G = gram.gram()
    if fit_intercept:
        mean = psi_sum / r
        G -= r * torch.outer(mean, mean)
    G *= n / r
    L, jitter = shifted_cholesky(check_finite(G, "the CG preconditioner"), alpha,
                                 what="the CG preconditioner (n/r) Psi_S^T Psi_S + alpha*I", warn=False)
    return L, jitter, r


# ============================================================================ conjugate gradient
@dataclass
class CGResult:
    """What :func:`conjugate_gradient` returns: the iterate of smallest residual ``coef``, the
    relative residual of the start then of each iterate (``residuals``), the iterations run and
    whether ``tol`` was reached."""

    coef: torch.Tensor
    residuals: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def conjugate_gradient(
    apply_A: Callable[[torch.Tensor], torch.Tensor],
    R: torch.Tensor,
    *,
    tol: float,
    max_iter: int,
    precondition: Callable[[torch.Tensor], torch.Tensor] | None = None,
    x0: torch.Tensor | None = None,
    r0: torch.Tensor | None = None,
    bar=None,
) -> CGResult:
    """Preconditioned CG for ``A X = R`` (A symmetric positive definite), column by column.

    Every column of ``R`` (D, k) runs its own CG recursion (its own step sizes), all columns
    sharing each ``apply_A`` call (one pass over the rows). A column is frozen once its relative
    residual is ≤ ``tol``; the run stops when ``‖R − AX‖_F / ‖R‖_F ≤ tol`` (converged), after
    ``max_iter`` iterations, or when no column can move any more (a non-positive curvature or
    preconditioned residual from rounding). The residuals are the recursive ones (equal to the
    true ``R − AX`` up to rounding in float64 products).

    Parameters
    ----------
    apply_A : callable
        ``P (D, k) -> A P (D, k)``.
    R : torch.Tensor (D, k)
    tol : float
        Relative tolerance on the Frobenius norm.
    max_iter : int
        Most iterations (``apply_A`` calls, besides the one for ``r0`` when ``x0`` is given).
    precondition : callable, optional
        ``r ↦ M⁻¹ r`` for a symmetric positive definite ``M ≈ A``; ``None``: plain CG.
    x0, r0 : torch.Tensor (D, k), optional
        Starting point (default zero) and, if known, its residual ``R − A x0``.
    bar : tqdm bar, optional
        Advanced once per iteration, its postfix the relative residual.

    Returns
    -------
    CGResult
    """
    R = R.to(F64)
    norm_R = float(torch.linalg.norm(R))
    column_norms = torch.linalg.norm(R, dim=0)
    if x0 is None:
        x, r = torch.zeros_like(R), R.clone()
    else:
        x = x0.to(F64).clone()
        r = (R - apply_A(x)) if r0 is None else r0.to(F64).clone()
    if norm_R == 0.0:
        return CGResult(torch.zeros_like(R), [0.0], 0, True)
    residual = float(torch.linalg.norm(r)) / norm_R
    residuals, best, best_x = [residual], residual, x.clone()
    if residual <= tol:
        return CGResult(x, residuals, 0, True)
    active = torch.linalg.norm(r, dim=0) > tol * column_norms
    z = r if precondition is None else precondition(r)
    rz = (r * z).sum(0)
    p = z.clone()
    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is read after the loop
        q = check_finite(apply_A(p), "conjugate gradient products A p")
        pq = (p * q).sum(0)
        moving = active & (pq > 0) & (rz > 0)
        if not bool(moving.any()):
            n_iter -= 1
            break
        step = torch.where(moving, rz / torch.where(moving, pq, 1.0), 0.0)
        x += p * step
        r -= q * step
        residual = float(torch.linalg.norm(r)) / norm_R
        residuals.append(residual)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(residual=f"{residual:.3g}")
        if residual < best:
            best, best_x = residual, x.clone()
        if residual <= tol:
            converged = True
            break
        active = active & (torch.linalg.norm(r, dim=0) > tol * column_norms)
        z = r if precondition is None else precondition(r)
        rz_new = (r * z).sum(0)
        beta = torch.where(active & (rz > 0), rz_new / torch.where(rz > 0, rz, 1.0), 0.0)
        p = z + p * beta
        rz = rz_new
    return CGResult(best_x if not converged else x, residuals, n_iter, converged)


# ============================================================================ the ridge solve
@dataclass
class RidgeCG:
    """The solution of :func:`solve_ridge_cg`: β (float64, (D, k)), μ and ȳ (``None`` without
    an intercept), the residual history, iterations, convergence, the preconditioner's jitter,
    and whether the base features were cached."""

    coef: torch.Tensor
    mean: torch.Tensor | None
    y_mean: torch.Tensor | None
    residuals: list[float]
    n_iter: int
    converged: bool
    jitter: float
    cached: bool


def solve_ridge_cg(
    features,
    rows: Rows,
    alpha: float,
    *,
    fit_intercept: bool,
    tol: float,
    max_iter: int,
    product_dtype: torch.dtype = F64,
    x0: torch.Tensor | None = None,
    preconditioner: str | None = "auto",
    random_state=None,
    cache: bool = True,
    show: bool | None = None,
) -> RidgeCG:
    """β of ``(ΨᵀΨ + αI)β = ΨᵀY`` (centred with ``fit_intercept``) by preconditioned CG.

    Parameters
    ----------
    features : fitted levrf FeatureMap (a slim copy: it is shipped to Dask workers)
    rows : levrf.rows.Rows with targets
    alpha : float
    fit_intercept : bool
    tol, max_iter : see :func:`conjugate_gradient`
    product_dtype : torch dtype
        Precision of the iteration passes' products (float32: the two-phase scheme of the
        module docstring).
    x0 : torch.Tensor (D, k), optional
        Starting point (warm start).
    preconditioner : "auto" or None
        ``"auto"``: the preconditioner of the module docstring; ``None``: plain CG (for tests
        and diagnostics, not an estimator parameter).
    random_state
        Seed of the preconditioner's row subsample.
    cache : bool
        Allow the base-feature cache (within the ``cg_cache_bytes`` budget).
    show : bool or None
        Progress bar (``None``: :func:`levrf.progress.enable`).
    """
    if preconditioner not in ("auto", None):
        raise ValueError(f"preconditioner must be 'auto' or None, got {preconditioner!r}")
    op = GramOperator(features, rows, cache=cache)
    R, psi_sum, y_sum = op.right_hand_side()
    n = rows.n_rows
    mean = y_mean = None
    if fit_intercept:
        mean, y_mean = psi_sum / n, y_sum / n
        R = R - n * torch.outer(mean, y_mean)

    def system(dtype):
        def apply_A(P):
            out = op(P, dtype) + alpha * P
            return out if mean is None else out - n * torch.outer(mean, mean @ P)
        return apply_A

    jitter, precondition = 0.0, None
    if preconditioner == "auto":
        L, jitter, _ = preconditioner_factor(features, rows, alpha, fit_intercept=fit_intercept,
                                             random_state=random_state)

        def precondition(r):
            return solve_with_factor(r, L)

    bar = progress_bar(max_iter, "levrf CG", min_items=1, show=show)
    try:
        if product_dtype == F64:
            result = conjugate_gradient(system(F64), R, tol=tol, max_iter=max_iter, precondition=precondition,
                                        x0=x0, bar=bar)
        else:
            result = _two_phase(system, R, tol, max_iter, precondition, x0, product_dtype, bar)
    finally:
        bar.close()
    return RidgeCG(result.coef, mean, y_mean, result.residuals, result.n_iter, result.converged, jitter, op.cached)


def _two_phase(system, R, tol, max_iter, precondition, x0, dtype, bar) -> CGResult:
    """float32 products to ``max(tol, FLOAT32_PHASE_TOL)``, a float64 check, float64 after it."""
    first = conjugate_gradient(system(dtype), R, tol=max(tol, FLOAT32_PHASE_TOL), max_iter=max_iter,
                               precondition=precondition, x0=x0, bar=bar)
    norm_R = float(torch.linalg.norm(R))
    r = R - system(F64)(first.coef)
    checked = float(torch.linalg.norm(r)) / norm_R if norm_R > 0 else 0.0
    residuals = [*first.residuals, checked]
    if checked <= tol:
        return CGResult(first.coef, residuals, first.n_iter, True)
    second = conjugate_gradient(system(F64), R, tol=tol, max_iter=max(max_iter - first.n_iter, 0),
                                precondition=precondition, x0=first.coef, r0=r, bar=bar)
    return CGResult(second.coef, residuals + second.residuals[1:], first.n_iter + second.n_iter, second.converged)
