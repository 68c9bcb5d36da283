"""Nyström kernel ridge regression: the random-feature solvers with the Nyström map in front.

``β = (ΨᵀΨ + αI)⁻¹ ΨᵀY`` with ``Ψ = K(X, C) K_CC^{-1/2}`` (:class:`levrf.Nystroem`), so that
``f(z) = ψ(z)ᵀβ`` is the Nyström KRR predictor ``K(z, C)(K_CX K_XC + α K_CC)⁺ K_CX Y``. The fit is
exactly the one of :class:`levrf.RandomFeatureRidge` / :class:`levrf.RandomFeatureRidgeCV`: the
same streamed ``ΨᵀΨ`` / ``ΨᵀY`` block functions of :mod:`levrf.ridge.blocks` over
:class:`levrf.rows.Rows` (in memory or Dask, CPU or CUDA, float32 Gram with refinement), the
same Cholesky with its jitter policy, the same eigen-path for leave-one-out / GCV / K-fold CV.
These classes only put a :class:`levrf.Nystroem` where those put a :class:`levrf.RandomFeatures`.
Fit costs O(n·M²) time and O(M² + chunk) memory.
"""

from __future__ import annotations

from sklearn.base import ClassifierMixin, RegressorMixin

from .._validation import (
    Boolean,
    Checked,
    Integer,
    NoneValue,
    Options,
    Real,
    deprecate_positional_args,
    resolve_dtype,
)
from ..features import ESTIMATOR_CONSTRAINTS, splice_parameter_docs
from ..nystroem import CENTERS, Nystroem
from .classification import RidgeClassifierMixin
from .cv import RandomFeatureRidgeCV
from .random_features import SOLVER_CONSTRAINTS, _RandomFeatureRidgeCore
from .regression import RidgeRegressorMixin

#: the Nyström parameters, beside the ones every estimator has
NYSTROEM_CONSTRAINTS = {**ESTIMATOR_CONSTRAINTS, "n_components": Integer(1), "centers": Options(*CENTERS)}


class _NystroemMap:
    """The Nyström feature map of an estimator's parameters, where the random-feature
    estimators build their :class:`levrf.RandomFeatures`."""

    def _random_features(self, alpha: float, *, kernel=None) -> Nystroem:
        """An unfitted Nystroem with this estimator's parameters, its centers meant for ``alpha``
        (and ``kernel`` in place of the estimator's own, when given)."""
        return Nystroem(
            self.kernel if kernel is None else kernel,
            n_components=self.n_components,
            centers=self.centers,
            alpha=alpha,
            batch_size=self.batch_size,
            dtype=self.dtype,
            device=self.device,
            random_state=self.random_state,
        )


class _NystromRidgeCore(_NystroemMap, _RandomFeatureRidgeCore):
    """Parameters of the Nyström ridge regressor and classifier (fit: the random-feature core's)."""

    _parameter_constraints = {
        **NYSTROEM_CONSTRAINTS,
        "alpha": Real(0.0),
        "gram_dtype": [NoneValue(), Checked(resolve_dtype, "'float64' or 'float32'")],
        "refine_tol": Real(0.0),
        "fit_intercept": Boolean(),
        **SOLVER_CONSTRAINTS,
    }

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
        self.n_components = n_components
        self.centers = centers
        self.alpha = alpha
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


@splice_parameter_docs
class NystromRidge(RidgeRegressorMixin, RegressorMixin, _NystromRidgeCore):
    """Kernel ridge regression on Nyström features, centers chosen uniformly or by ridge leverage.

    Fits ``β = (ΨᵀΨ + αI)⁻¹ ΨᵀY`` with Ψ the Nyström features of :class:`levrf.Nystroem`
    (``ψ(x) = K(x, C) K_CC^{-1/2}``), streaming ``ΨᵀΨ`` over row chunks exactly as
    :class:`levrf.RandomFeatureRidge` does. With every row a center it is exact kernel ridge
    regression (with ``fit_intercept=False``).

    Parameters
    ----------
    kernel : levrf kernel, default=None
        Any kernel with a closed form (``DeepReLUNTK`` included); ``None`` means
        ``GaussianKernel()`` (``bandwidth="auto"``, resolved from the training rows).
    n_components : int, default=100
        Number of centers M (capped at the number of rows).
    centers : {"uniform", "leverage"}, default="uniform"
        How the centers are chosen (see :class:`levrf.Nystroem`); leverage centers are drawn
        for the ridge ``alpha``.
    alpha : float, default=1.0
        Ridge parameter λ > 0.
    batch_size : int, optional
        Rows per chunk of Ψ (fit and predict).
    dtype : {"float64", "float32"}, default="float64"
    gram_dtype : {None, "float32", "float64"}, default=None
        Precision of ``ΨᵀΨ`` (see :class:`levrf.RandomFeatureRidge`: float32 plus refinement).
    refine_tol : float, default=1e-5
        Relative residual at which the refinement stops (``gram_dtype`` narrower than ``dtype``).
    device : str, default="cpu"
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the choice of centers (``None`` means seed 0).
    fit_intercept : bool, default=True
        Fit an unpenalized intercept (centred features and targets).
    {solver}
        With Nyström features the CG iterations apply ``K(X, C)`` and the fixed factor
        ``K_CC^{-1/2}`` separately (O(n·M·d) per pass, not the O(n·M²) of forming Ψ), and are
        preconditioned by Falkon's preconditioner on the centers (uniform centers) or on a
        uniform row subsample (leverage centers).
    {tol}
    {max_iter}
    {warm_start}

    Attributes
    ----------
    features_ : levrf.Nystroem
        The fitted feature map (centers, normalization, leverage of the centers).
    coef_ : torch.Tensor of shape (r, n_targets)
        β (r ≤ M: the numerically nonzero eigen-directions of ``K_CC``).
    jitter_ : float
    refine_residuals_ : list of float
    solver_ : {"cholesky", "cg"}
        The solver used (``solver="auto"`` resolved).
    n_iter_ : int
        CG iterations (0 for ``"cholesky"``).
    cg_residuals_ : list of float
        Relative residual of CG's start and of each iterate (empty for ``"cholesky"``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np, levrf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3)); y = np.sin(X[:, 0])
    >>> model = levrf.NystromRidge(levrf.GaussianKernel(2.0), n_components=100, alpha=1e-2)
    >>> bool(model.fit(X, y).score(X, y) > 0.99)
    True
    """


class NystromRidgeClassifier(RidgeClassifierMixin, ClassifierMixin, _NystromRidgeCore):
    """Nyström ridge classification: one-hot ±1 targets, argmax prediction.

    Same parameters and fit as :class:`NystromRidge`, applied to the ±1 encoding of the labels.

    Parameters
    ----------
    kernel : levrf kernel, default=None
    n_components : int, default=100
    centers : {"uniform", "leverage"}, default="uniform"
    alpha : float, default=1.0
    batch_size : int, optional
    dtype : {"float64", "float32"}, default="float64"
    gram_dtype : {None, "float32", "float64"}, default=None
    refine_tol : float, default=1e-5
    device : str, default="cpu"
    random_state : int, numpy.random.Generator or None, default=None
    fit_intercept : bool, default=True
    solver : {"auto", "cholesky", "cg"}, default="auto"
    tol : float, default=1e-6
    max_iter : int or None, default=None
    warm_start : bool, default=False
        As in :class:`NystromRidge`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    features_ : levrf.Nystroem
    coef_ : torch.Tensor of shape (r, 1 or n_classes)
    jitter_ : float
    refine_residuals_ : list of float
    solver_ : {"cholesky", "cg"}
    n_iter_ : int
    cg_residuals_ : list of float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """


class NystromRidgeCV(_NystroemMap, RandomFeatureRidgeCV):
    """Nyström ridge regression with α chosen by leave-one-out, GCV or K-fold CV.

    The centers are chosen once (leverage centers for ``min(alphas)``: leverage decreases with
    α, so those centers serve every larger α), then every α is scored from one
    eigendecomposition of ``ΨᵀΨ`` exactly as in :class:`levrf.RandomFeatureRidgeCV`.

    Parameters
    ----------
    kernel : levrf kernel, default=None
    alphas : sequence of float, default=(0.1, 1.0, 10.0)
    n_components : int, default=100
    centers : {"uniform", "leverage"}, default="uniform"
    bandwidths : "auto", None or sequence of float, default="auto"
        Candidate bandwidths tuned with α (see :class:`levrf.RandomFeatureRidgeCV`); the
        centers are drawn again, with the same seed, for each.
    cv : None, int or CV splitter, default=None
        ``None``: efficient leave-one-out (or GCV); see :class:`levrf.RandomFeatureRidgeCV`.
    gcv : bool, default=False
    store_cv_results : bool, default=False
    batch_size : int, optional
    dtype : {"float64", "float32"}, default="float64"
    device : str, default="cpu"
    random_state : int, numpy.random.Generator or None, default=None

    Attributes
    ----------
    alpha_ : float
    bandwidth_ : float or None
    bandwidths_ : ndarray of shape (n_bandwidths,) or None
    best_score_ : float
    cv_mse_ : ndarray of shape (n_alphas,)
    cv_mse_grid_ : ndarray of shape (n_bandwidths, n_alphas)
    cv_results_ : ndarray
        Only with ``store_cv_results=True``.
    features_ : levrf.Nystroem
    coef_ : torch.Tensor of shape (r, n_targets)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """

    _parameter_constraints = {
        **NYSTROEM_CONSTRAINTS,
        **{k: v for k, v in RandomFeatureRidgeCV._parameter_constraints.items()
           if k in ("alphas", "bandwidths", "cv", "gcv", "store_cv_results", "fit_intercept")},
    }

    @deprecate_positional_args
    def __init__(
        self,
        kernel=None,
        *,
        alphas=(0.1, 1.0, 10.0),
        n_components: int = 100,
        centers: str = "uniform",
        bandwidths="auto",
        cv=None,
        gcv: bool = False,
        store_cv_results: bool = False,
        batch_size: int | None = None,
        dtype: str = "float64",
        device: str = "cpu",
        random_state=None,
        fit_intercept: bool = True,
    ) -> None:
        self.kernel = kernel
        self.alphas = alphas
        self.n_components = n_components
        self.centers = centers
        self.bandwidths = bandwidths
        self.cv = cv
        self.gcv = gcv
        self.store_cv_results = store_cv_results
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.fit_intercept = fit_intercept
