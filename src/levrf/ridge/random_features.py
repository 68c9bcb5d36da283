"""Random-feature ridge regression in the primal: ``β = (ΨᵀΨ + λI)⁻¹ ΨᵀY``, ``f(z) = ψ(z)ᵀ β``.

Ψ (n × D, D = m·d2) is never stored: ``ΨᵀΨ`` and ``ΨᵀY`` are accumulated over row chunks of
the feature map, then the D × D system is solved by a Cholesky factorization. Fit costs
O(n D²) time and O(D² + chunk) memory; prediction O(D) per row.

With ``gram_dtype="float32"`` (and ``dtype="float64"``) the O(n D²) Gram products run in single
precision and the solution is brought back to double-precision accuracy by iterative
refinement: each pass streams the rows once more in float64 to form the residual
``r = ΨᵀY − (ΨᵀΨ + λI) β`` exactly (O(n D) work) and corrects ``β += (G₃₂ + λI)⁻¹ r`` with the
Cholesky factor already computed.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning

from .._validation import (
    Boolean,
    Checked,
    Integer,
    NoneValue,
    Options,
    Real,
    ValidatedParameters,
    deprecate_positional_args,
    resolve_dtype,
)
from ..features import RANDOM_FEATURE_CONSTRAINTS, RandomFeatures, slim_copy, splice_parameter_docs
from ..linalg import solve_with_factor
from ..rows import Rows
from ._base import check_finite, working_dtype_device
from .blocks import linear_predictions, normal_equations_block
from .cg import (
    DEFAULT_MAX_ITER,
    MAX_ITER_LIMIT,
    GramOperator,
    fits_cache,
    preconditioner_rows,
    solve_ridge_cg,
    uses_center_preconditioner,
)
from .classification import RidgeClassifierMixin
from .factored import factored_gram_is_accurate, factored_normal_equations
from .regression import RidgeRegressorMixin
from .solver_choice import choose_solver
from .solvers import NormalEquations, ridge_factor

#: most refinement passes over the data when ``gram_dtype`` is narrower than ``dtype``
MAX_REFINE_PASSES = 10


def accumulate_normal_equations(
    features: RandomFeatures, X: torch.Tensor, Y: torch.Tensor, *, gram_dtype: torch.dtype | None = None
) -> NormalEquations:
    """Stream ``ΨᵀΨ`` and ``ΨᵀY`` over the row chunks of ``features.iter_chunks(X)``."""
    acc = NormalEquations(
        features.n_output_features_, Y.shape[1], dtype=X.dtype, device=X.device, gram_dtype=gram_dtype
    )
    for start, Psi in features.iter_chunks(X, reuse=True):
        acc.add(Psi, Y[start : start + Psi.shape[0]])
    return acc


def centred_normal_equations(G: torch.Tensor, R: torch.Tensor, psi_sum: torch.Tensor, y_sum: torch.Tensor,
                             n_rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The normal equations of centred Ψ and Y, as scikit-learn's ``Ridge`` centres X and y.

    ``ΨᵀΨ − n·μμᵀ`` and ``ΨᵀY − n·μȳᵀ`` with ``μ = Σψ_i/n``, ``ȳ = Σy_i/n``: the system of the
    slopes of a ridge with an unpenalized intercept, whose intercept is ``ȳ − μᵀβ``. Returns
    ``(G_c, R_c, μ, ȳ)``; ``G_c`` is in ``G``'s dtype and (like ``G``) only its lower triangle
    need be meaningful.
    """
    mean, y_mean = psi_sum / n_rows, y_sum / n_rows
    m = mean.to(G.dtype)
    Gc = G - n_rows * torch.outer(m, m)
    Rc = R - n_rows * torch.outer(mean, y_mean)
    return Gc, Rc, mean, y_mean


def refine_ridge_solution(
    features: RandomFeatures,
    rows: Rows,
    R: torch.Tensor,
    L: torch.Tensor,
    coef: torch.Tensor,
    alpha: float,
    *,
    tol: float,
    max_passes: int = MAX_REFINE_PASSES,
    mean: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[float], bool]:
    """Iterative refinement of ``β ≈ (ΨᵀΨ + αI)⁻¹ R`` whose factor ``L`` is of an approximate Gram.

    ``mean`` (μ, with ``fit_intercept``): the system is that of the centred Ψ,
    ``(ΨᵀΨ − nμμᵀ + αI) β = R``.

    Each pass streams the rows once (:class:`levrf.ridge.cg.GramOperator`: Ψ is never formed for
    factored maps such as Nyström), forms the residual ``r = R − Ψᵀ(Ψβ) − αβ`` in float64
    and adds ``(L Lᵀ)⁻¹ r`` to β; the residual shrinks by a factor ρ ≈ ‖(G̃ + αI)⁻¹(G − G̃)‖
    per pass. The passes stop (converged) once a measured ``‖r‖_F / ‖R‖_F`` is ≤ ``tol``, the
    correction of that pass being applied too, so that the returned β's residual is about
    ρ·tol; or unconverged, after ``max_passes`` or when ρ exceeds ½ (``L`` too far from the
    true system: α below the float32 rounding error of ``ΨᵀΨ``), returning then the β with the
    smallest measured residual. ρ is the ratio of successive residuals, and on the first pass
    ``‖δ‖/‖β‖`` (there ``r = (G̃ − G)β`` exactly, so δ is one step of the iteration applied
    to β).

    Returns
    -------
    coef : torch.Tensor
        The refined β.
    residuals : list of float
        The relative residual ``‖r‖_F / ‖R‖_F`` measured by each pass (of β before that pass's
        correction).
    converged : bool
    """
    norm_R = float(torch.linalg.norm(R))
    residuals: list[float] = []
    best = coef
    gram_product = GramOperator(features, rows, cache=False)
    for _ in range(max_passes):
        GB = gram_product(coef.to(torch.float64)).to(coef.dtype)
        if mean is not None:  # the centred system: Ψ_cᵀΨ_c β = Ψᵀ(Ψβ) − n μ (μᵀβ)
            GB = GB - rows.n_rows * torch.outer(mean, mean @ coef)
        resid = R - GB - alpha * coef
        residuals.append(float(torch.linalg.norm(resid)) / norm_R if norm_R > 0 else 0.0)
        if residuals[-1] <= min(residuals):
            best = coef
        delta = solve_with_factor(resid.to(L.dtype), L).to(coef.dtype)
        # contraction of the iteration: measured between passes; on the first pass estimated by
        # ‖δ‖/‖β‖, since r = (G̃ − G)β exactly there and δ = (G̃ + αI)⁻¹ r is one step of it
        if len(residuals) > 1:
            rho = residuals[-1] / residuals[-2] if residuals[-2] > 0 else 0.0
        else:
            norm_coef = float(torch.linalg.norm(coef))
            rho = float(torch.linalg.norm(delta)) / norm_coef if norm_coef > 0 else 0.0
        if rho > 0.5:
            return best, residuals, False
        coef = coef + delta
        if residuals[-1] <= tol:
            return coef, residuals, True
    return best, residuals, False


#: the ways of solving the primal system (``solver=``)
SOLVERS = ("auto", "cholesky", "cg")

#: constraints of the solver choice, shared by the random-feature and Nyström estimators
SOLVER_CONSTRAINTS = {
    "solver": Options(*SOLVERS),
    "tol": Real(0.0),
    "max_iter": [NoneValue(), Integer(1, MAX_ITER_LIMIT)],
    "warm_start": Boolean(),
}

#: constraints of the random-feature ridge estimators: the random-feature table plus the solve's
FEATURE_RIDGE_CONSTRAINTS = {
    **RANDOM_FEATURE_CONSTRAINTS,
    "gram_dtype": [NoneValue(), Checked(resolve_dtype, "'float64' or 'float32'")],
    "refine_tol": Real(0.0),
    "fit_intercept": Boolean(),
    **SOLVER_CONSTRAINTS,
}


class FeatureRidgeParams(ValidatedParameters, BaseEstimator):
    """Constructor parameters of the random-feature ridge estimators and their feature map.

    Subclasses with other parameters (``RandomFeatureRidgeCV``) define their own ``__init__``
    and ``_parameter_constraints`` table, starting from :data:`RANDOM_FEATURE_CONSTRAINTS`.
    """

    _parameter_constraints = FEATURE_RIDGE_CONSTRAINTS

    @deprecate_positional_args
    def __init__(
        self,
        kernel=None,
        *,
        n_features: int = 100,
        sampling: str = "gaussian",
        alpha: float = 1.0,
        sampling_alpha="auto",
        pool_size: int | None = None,
        leverage_method: str = "auto",
        batch_size: int | None = None,
        dtype: str = "float64",
        gram_dtype: str | None = None,
        refine_tol: float = 1e-5,
        device: str = "cpu",
        random_state=None,
        fit_intercept: bool = True,
        solver: str = "auto",
        tol: float = 1e-6,
        max_iter: int | None = None,
        warm_start: bool = False,
    ) -> None:
        self.kernel = kernel
        self.n_features = n_features
        self.sampling = sampling
        self.alpha = alpha
        self.sampling_alpha = sampling_alpha
        self.pool_size = pool_size
        self.leverage_method = leverage_method
        self.batch_size = batch_size
        self.dtype = dtype
        self.gram_dtype = gram_dtype
        self.refine_tol = refine_tol
        self.device = device
        self.random_state = random_state
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def _gram_dtype(self) -> torch.dtype:
        """The ``gram_dtype`` as a torch dtype (``None`` → ``dtype``)."""
        return resolve_dtype(self.dtype if self.gram_dtype is None else self.gram_dtype)

    def _random_features(self, alpha: float, *, kernel=None) -> RandomFeatures:
        """An unfitted RandomFeatures with this estimator's sampling parameters (and ``kernel``
        in place of the estimator's own, when given: a CV's kernel at one of its bandwidths)."""
        return RandomFeatures(
            kernel=self.kernel if kernel is None else kernel,
            n_features=self.n_features,
            sampling=self.sampling,
            alpha=alpha,
            sampling_alpha=self.sampling_alpha,
            pool_size=self.pool_size,
            leverage_method=self.leverage_method,
            batch_size=self.batch_size,
            dtype=self.dtype,
            device=self.device,
            random_state=self.random_state,
        )

    def _decision_rows(self, rows: Rows):
        """``Ψ(X) β + b`` (n, k): NumPy for rows in memory, a lazy Dask array otherwise."""
        return rows.map(linear_predictions, slim_copy(self.features_), self.coef_, self.intercept_,
                        n_columns=self.coef_.shape[1])

    def _normal_equations(self, sums: dict, n_rows: int):
        """``(G, R, μ)`` of the solve from the sums of :func:`normal_equations_block`: centred with
        ``fit_intercept`` (then μ, ȳ are kept for the intercept), as they are otherwise (μ = None)."""
        G = check_finite(sums["gram"], "random features Psi^T Psi")
        R = check_finite(sums["xty"], "products Psi^T y")
        if not self.fit_intercept:
            self._y_mean = None
            return G, R, None
        G, R, mean, self._y_mean = centred_normal_equations(G, R, sums["psi_sum"], sums["y_sum"], n_rows)
        return G, R, mean

    def _set_intercept(self, coef: torch.Tensor, mean: torch.Tensor | None) -> None:
        """``intercept_ = ȳ − μᵀβ`` (zeros without ``fit_intercept``)."""
        if mean is None:
            self.intercept_ = torch.zeros(coef.shape[1], dtype=coef.dtype, device=coef.device)
        else:
            self.intercept_ = check_finite(self._y_mean - mean @ coef, "intercept")
        del self._y_mean


class _RandomFeatureRidgeCore(FeatureRidgeParams):
    """Fit of the primal random-feature ridge, shared by the regressor and the classifier."""

    def _fit_rows(self, rows: Rows) -> None:
        dtype, _ = working_dtype_device(self)
        gram_dtype, alpha = self._gram_dtype(), float(self.alpha)
        previous = getattr(self, "coef_", None) if self.warm_start else None
        if not rows.in_memory and gram_dtype != dtype and self.solver == "cholesky":
            raise ValueError(
                "gram_dtype other than dtype is not supported for Dask inputs with solver='cholesky' "
                "(their refinement passes are not implemented); use gram_dtype=None or solver='cg'"
            )
        self.features_ = self._random_features(alpha).fit_rows(rows)
        self.bandwidth_ = self.features_.bandwidth_
        features = slim_copy(self.features_)
        self.solver_ = self._choose_solver(rows, features)
        if self.solver_ == "cg":
            self._fit_cg(rows, features, alpha, previous)
            return
        if not rows.in_memory and gram_dtype != dtype:
            raise ValueError(
                "gram_dtype other than dtype is not supported for Dask inputs with the direct solver "
                "(their refinement passes are not implemented); use gram_dtype=None or solver='cg'"
            )
        self.n_iter_, self.cg_residuals_ = 0, []
        # Nyström: ΨᵀΨ = Nᵀ(BᵀB)N without forming Ψ where its estimated error is small against
        # alpha; the refinement pass below checks the solution either way
        factored = factored_gram_is_accurate(features, rows, alpha, gram_dtype)
        if factored:
            sums = factored_normal_equations(rows, features, gram_dtype)
        else:
            sums = rows.sum(normal_equations_block, features, (), gram_dtype)
        # the Cholesky factorization reads the lower triangle only: no mirroring of G
        G, R, mean = self._normal_equations(sums, rows.n_rows)
        self.refine_residuals_ = []
        coef = None
        if factored or torch.finfo(gram_dtype).eps > torch.finfo(dtype).eps:
            coef = self._refined_solve(rows, features, G.to(R.dtype), R, alpha, mean, factored=factored)
            if coef is None:  # the approximate Gram was useless: the one of Ψ in dtype after all
                G, R, mean = self._normal_equations(rows.sum(normal_equations_block, features), rows.n_rows)
        if coef is None:
            L, self.jitter_ = ridge_factor(G, alpha)
            coef = torch.cholesky_solve(R.to(L.dtype), L).to(dtype)
        self.coef_ = check_finite(coef, "ridge coefficients")
        self._set_intercept(self.coef_, mean)

    def _choose_solver(self, rows: Rows, features) -> str:
        """``solver``, with ``"auto"`` resolved by :func:`levrf.ridge.solver_choice.choose_solver`."""
        if self.solver != "auto":
            return self.solver
        D, w = int(features.n_output_features_), int(features.base_width())
        center = uses_center_preconditioner(features)
        return choose_solver(
            rows.n_rows, D, n_base=w, n_targets=max(rows.n_targets, 1), cached=fits_cache(rows, w),
            preconditioner_rows=w if center else preconditioner_rows(rows.n_rows, D),
            nystrom=features.feature_factor() is not None,
        )

    def _fit_cg(self, rows: Rows, features, alpha: float, previous: torch.Tensor | None) -> None:
        """β by :func:`levrf.ridge.cg.solve_ridge_cg` (``solver="cg"``)."""
        dtype, _ = working_dtype_device(self)
        product_dtype = torch.float32 if torch.float32 in (dtype, self._gram_dtype()) else torch.float64
        D, k = int(features.n_output_features_), max(rows.n_targets, 1)
        x0 = None
        if previous is not None and tuple(previous.shape) == (D, k):
            x0 = previous.to(device=rows.device, dtype=torch.float64)
        max_iter = DEFAULT_MAX_ITER if self.max_iter is None else int(self.max_iter)
        result = solve_ridge_cg(features, rows, alpha, fit_intercept=self.fit_intercept, tol=float(self.tol),
                                max_iter=max_iter, product_dtype=product_dtype, x0=x0,
                                random_state=self.random_state)
        self.n_iter_, self.cg_residuals_ = int(result.n_iter), [float(v) for v in result.residuals]
        self.jitter_, self.refine_residuals_ = float(result.jitter), []
        if not result.converged:
            warnings.warn(
                f"conjugate gradient stopped after {result.n_iter} iterations at a relative residual of "
                f"{min(result.residuals):.3g} > tol={float(self.tol):g}; the iterate of smallest residual is "
                "kept (raise max_iter or tol, or use solver='cholesky')",
                ConvergenceWarning, stacklevel=4,
            )
        self.coef_ = check_finite(result.coef.to(dtype), "ridge coefficients")
        if result.mean is None:
            self.intercept_ = torch.zeros(k, dtype=dtype, device=self.coef_.device)
        else:
            self.intercept_ = check_finite((result.y_mean - result.mean @ result.coef).to(dtype), "intercept")

    def _refined_solve(
        self, rows: Rows, features: RandomFeatures, G: torch.Tensor, R: torch.Tensor, alpha: float,
        mean: torch.Tensor | None = None, *, factored: bool = False,
    ) -> torch.Tensor | None:
        """β from an approximate Gram (accumulated in ``gram_dtype``, or factored as
        ``Nᵀ(BᵀB)N``) plus refinement, or ``None`` when that Gram is too inaccurate for
        ``alpha`` (with a ``ConvergenceWarning`` for a narrow ``gram_dtype``, which the user
        chose; the factored Gram is levrf's own choice and falls back silently)."""
        what = "Psi^T Psi + alpha*I" + (" (Psi^T Psi factored)" if factored else f" (Psi^T Psi in {self.gram_dtype})")
        try:
            L, self.jitter_ = ridge_factor(G, alpha, what=what)
        except np.linalg.LinAlgError:
            problem = f"{what} is not positive definite"
        else:
            coef = torch.cholesky_solve(R.to(L.dtype), L).to(R.dtype)
            coef, self.refine_residuals_, converged = refine_ridge_solution(
                features, rows, R, L, coef, alpha, tol=float(self.refine_tol), mean=mean
            )
            if converged:
                return coef
            problem = f"refinement stalled at a relative residual of {min(self.refine_residuals_):.2g} (refine_tol={self.refine_tol:g})"
        if factored and torch.finfo(self._gram_dtype()).eps <= torch.finfo(resolve_dtype(self.dtype)).eps:
            return None
        warnings.warn(
            f"{problem}: Psi^T Psi in {self.gram_dtype} is too inaccurate for alpha={alpha:g}; recomputing it "
            f"in {self.dtype} (pass gram_dtype=None to skip the {self.gram_dtype} attempt)",
            ConvergenceWarning,
            stacklevel=5,
        )
        return None


@splice_parameter_docs
class RandomFeatureRidge(RidgeRegressorMixin, RegressorMixin, _RandomFeatureRidgeCore):
    """Kernel ridge regression with random features, solved in the primal by streaming.

    Draws ``m = n_features`` weights with :class:`levrf.RandomFeatures` (any sampler:
    ``"gaussian"`` from ``p``, or a leverage sampler), accumulates ``G = ΨᵀΨ`` and ``ΨᵀY`` over
    row chunks (a BLAS ``syrk`` on the CPU, ``addmm`` on the GPU) and solves
    ``(G + αI) β = ΨᵀY`` by a Cholesky factorization of the D × D matrix (D = m·d2; with a
    documented jitter retry, see :func:`levrf.ridge.solvers.cholesky_solve`). With
    ``fit_intercept=True`` (the default) Ψ's columns and Y are centred first (``ΨᵀΨ − n·μμᵀ``,
    ``ΨᵀY − n·μȳᵀ``, from column sums accumulated in the same pass) and ``intercept_ = ȳ − μᵀβ``.

    Parameters
    ----------
    {kernel}
    {n_features}
    {sampling}
    {alpha}
    {sampling_alpha}
    {pool_size}
    {leverage_method}
    {batch_size}
    {dtype}
    gram_dtype : {None, "float32", "float64"}, default=None
        Precision of the O(n D²) products ``ΨᵀΨ`` (``None``: ``dtype``). ``"float32"`` with
        ``dtype="float64"`` runs them at single-precision speed (about 2× on CPUs) and refines
        the float64 solution by extra O(n D) passes over the rows (usually one) until the
        relative residual of the float64 system is below ``refine_tol``. Worth it on CPUs from
        D ≈ 2,000 (see ``docs/ridge.md``); on GPUs float64 is fast enough. Where α is below the float32 rounding
        error of ``ΨᵀΨ`` the refinement stalls; then a ``ConvergenceWarning`` says so and
        ``ΨᵀΨ`` is recomputed in ``dtype`` (the fit costs the float32 attempt extra).
    refine_tol : float, default=1e-5
        Refinement stops once a pass measures a relative residual
        ``‖ΨᵀY − (ΨᵀΨ + αI)β‖ / ‖ΨᵀY‖`` ≤ ``refine_tol`` (and applies that pass's correction,
        which shrinks it a further 10²–10³-fold). Only used when ``gram_dtype`` is narrower
        than ``dtype``.
    {device}
    {random_state}
    {fit_intercept}
    {solver}
    {tol}
    {max_iter}
    {warm_start}

    Attributes
    ----------
    features_ : levrf.RandomFeatures
        The fitted feature map (weights, importance weights, sampling information); its
        ``kernel_`` is the kernel used, ``bandwidth="auto"`` resolved.
    bandwidth_ : float or None
        The bandwidth used (``features_.bandwidth_``; ``None`` for kernels without one).
    coef_ : torch.Tensor of shape (D, n_targets)
        β.
    intercept_ : torch.Tensor of shape (n_targets,)
        ``ȳ − μᵀβ`` (zeros with ``fit_intercept=False``).
    jitter_ : float
        Diagonal jitter that had to be added to ``ΨᵀΨ + αI`` (0.0 normally); with refinement
        it is only in the factor that corrects β, not in the system β solves; with
        ``solver="cg"`` that of the preconditioner's factor (the system solved has none).
    refine_residuals_ : list of float
        Relative residual measured by each refinement pass (empty without refinement).
    solver_ : {"cholesky", "cg"}
        The solver used (``solver="auto"`` resolved).
    n_iter_ : int
        CG iterations run (0 for ``"cholesky"``).
    cg_residuals_ : list of float
        Relative residual of CG's start, then of each iterate (empty for ``"cholesky"``; see
        :mod:`levrf.ridge.cg` for the float32 phase and its float64 check).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np, levrf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3)); y = np.sin(X[:, 0])
    >>> model = levrf.RandomFeatureRidge(levrf.GaussianKernel(2.0), n_features=200, alpha=1e-2)
    >>> bool(model.fit(X, y).score(X, y) > 0.99)
    True
    """


@splice_parameter_docs
class RandomFeatureRidgeClassifier(RidgeClassifierMixin, ClassifierMixin, _RandomFeatureRidgeCore):
    """Random-feature ridge classification: one-hot ±1 targets, argmax prediction.

    Same parameters and fit as :class:`RandomFeatureRidge`, applied to the ±1 encoding of the
    labels (one column for two classes, one per class otherwise).

    Parameters
    ----------
    {kernel}
    {n_features}
    {sampling}
    {alpha}
    {sampling_alpha}
    {pool_size}
    {leverage_method}
    {batch_size}
    {dtype}
    gram_dtype : {None, "float32", "float64"}, default=None
        As in :class:`RandomFeatureRidge`.
    refine_tol : float, default=1e-5
        As in :class:`RandomFeatureRidge`.
    {device}
    {random_state}
    {fit_intercept}
    {solver}
    {tol}
    {max_iter}
    {warm_start}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    features_ : levrf.RandomFeatures
    bandwidth_ : float or None
    coef_ : torch.Tensor of shape (D, 1 or n_classes)
    intercept_ : torch.Tensor of shape (1 or n_classes,)
    jitter_ : float
    refine_residuals_ : list of float
    solver_ : {"cholesky", "cg"}
    n_iter_ : int
    cg_residuals_ : list of float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """
