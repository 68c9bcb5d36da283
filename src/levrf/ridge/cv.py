"""Choosing the ridge parameter of random-feature ridge regression by (leave-one-out) CV.

The features are drawn once. With ``G = ΨᵀΨ = V diag(s) Vᵀ`` (one symmetric eigendecomposition,
D × D) and ``R = ΨᵀY``, every α gives

    β_α = V diag(1/(s+α)) Vᵀ R,     h_i(α) = Σ_k (Vᵀψ_i)_k² / (s_k + α)     (hat-matrix diagonal)

and the exact leave-one-out residual of row i is ``(y_i − ψ_iᵀβ_α) / (1 − h_i(α))`` (the
primal form of scikit-learn's ``RidgeCV``). Ψ is streamed twice: once to accumulate G and R,
once to compute ``Z = ΨV`` chunk by chunk and the residuals of all α at once. GCV replaces
``h_i`` by its mean ``tr(H)/n = Σ_k s_k/(s_k+α) / n``. K-fold CV uses, per split, the Gram of
the training rows (G minus the Gram of the other rows) and its own eigendecomposition.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.model_selection import KFold, check_cv

from .._validation import (
    Boolean,
    Checked,
    Integer,
    NoneValue,
    Options,
    check_random_state,
    deprecate_positional_args,
)
from ..features import (
    RANDOM_FEATURE_CONSTRAINTS,
    fitted_kernel,
    resolve_kernel,
    slim_copy,
    splice_parameter_docs,
)
from ..kernels import Kernel
from ..kernels.shift_invariant import check_bandwidth
from ..rows import Rows
from ._base import check_finite, working_dtype_device
from .blocks import held_out_error_block, loo_block, loo_errors, normal_equations_block
from .random_features import FeatureRidgeParams, centred_normal_equations
from .regression import RidgeRegressorMixin


def check_alphas(alphas, name: str = "alphas") -> np.ndarray:
    """A non-empty 1-D array of finite alphas > 0."""
    if isinstance(alphas, str | bytes):
        raise TypeError(f"{name} must be a sequence of positive numbers, got {alphas!r}")
    try:
        a = np.atleast_1d(np.asarray(alphas))
    except Exception as exc:
        raise TypeError(f"{name} must be a sequence of positive numbers: {exc}") from exc
    if a.dtype == bool or a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a sequence of positive numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must all be finite and > 0, got {a}")
    return a


#: ``bandwidths="auto"`` with a ``bandwidth="auto"`` kernel: these multiples of the resolved value
AUTO_BANDWIDTH_FACTORS = (0.5, 1.0, 2.0)


def check_bandwidths(bandwidths, name: str = "bandwidths") -> np.ndarray:
    """A non-empty 1-D array of bandwidths (each as :func:`levrf.kernels.shift_invariant.check_bandwidth`)."""
    if isinstance(bandwidths, str | bytes):
        raise TypeError(f"{name} must be None, 'auto' or a sequence of positive numbers, got {bandwidths!r}")
    try:
        b = np.atleast_1d(np.asarray(bandwidths))
    except Exception as exc:
        raise TypeError(f"{name} must be a sequence of positive numbers: {exc}") from exc
    if b.dtype == bool or b.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a sequence of positive numbers, got dtype {b.dtype}")
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {b.shape}")
    return np.array([check_bandwidth(float(v), f"{name}[{i}]") for i, v in enumerate(b)])


def check_splitter(cv, name: str = "cv") -> None:
    """A scikit-learn CV splitter (an object with ``split``) or an iterable of splits."""
    if isinstance(cv, str | bytes | bool | numbers.Number) or not (hasattr(cv, "split") or hasattr(cv, "__iter__")):
        raise TypeError(f"{name} must be None, an int >= 2 or a CV splitter, got {cv!r}")


#: the positional order of ``RandomFeatureRidgeCV`` before ``kernel`` came first
LEGACY_CV_ORDER = ("alphas", "kernel", "n_features", "sampling", "sampling_alpha", "pool_size", "leverage_method",
                   "cv", "gcv", "store_cv_results", "batch_size", "dtype", "device", "random_state")


def _legacy_positional_names(args: tuple):
    """``RandomFeatureRidgeCV(alphas, ...)``, the old order, when the first positional argument is
    not a kernel (nor None); otherwise the new one (``kernel`` first)."""
    if args[0] is None or isinstance(args[0], Kernel):
        return None
    return LEGACY_CV_ORDER


class _EigenPath:
    """All ridge solutions of one system ``(G + αI) β = R`` from ``G = V diag(s) Vᵀ``.

    With ``mean`` (μ) and ``y_mean`` (ȳ), G and R are those of the centred rows of ``n_rows``
    training rows (``fit_intercept``): a row is centred before it is scored, the intercept is
    ``ȳ − μᵀβ`` and the hat matrix of the unpenalized intercept is ``11ᵀ/n + H_c``, so every
    hat diagonal gains ``1/n`` (the LOO identity holds exactly for it: the intercept is a column
    of the design with zero penalty).
    """

    def __init__(self, G: torch.Tensor, R: torch.Tensor, alphas: torch.Tensor, mean: torch.Tensor | None = None,
                 y_mean: torch.Tensor | None = None, n_rows: int | None = None) -> None:
        s, self.V = torch.linalg.eigh(G)
        self.s = s.clamp_min(0.0)  # G is PSD; tiny negative eigenvalues are rounding
        self.inv = 1.0 / (self.s[:, None] + alphas[None, :])  # (D, A)
        Q = self.V.T @ R  # (D, k)
        self.C = (Q[:, :, None] * self.inv[:, None, :]).reshape(Q.shape[0], -1)  # (D, k·A)
        self.n_targets, self.n_alphas = R.shape[1], alphas.shape[0]
        self.mean, self.y_mean = mean, y_mean
        self.hat_offset = 0.0 if mean is None else 1.0 / n_rows
        self.mean_V = None if mean is None else mean @ self.V

    def coef(self, index: int) -> torch.Tensor:
        """β for ``alphas[index]``: (D, k)."""
        C = self.C.reshape(-1, self.n_targets, self.n_alphas)[:, :, index]
        return self.V @ C

    def intercept(self, coef: torch.Tensor) -> torch.Tensor:
        """``ȳ − μᵀβ`` (k,), zeros without centring."""
        if self.mean is None:
            return torch.zeros(coef.shape[1], dtype=coef.dtype, device=coef.device)
        return self.y_mean - self.mean @ coef

    def residuals(self, Psi: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals ``y − ψᵀβ_α − b_α`` (b, k, A) and hat diagonals ``h(α)`` (b, A) of some rows."""
        Z = Psi @ self.V
        if self.mean is not None:
            Z = Z - self.mean_V[None, :]
            Y = Y - self.y_mean[None, :]
        pred = (Z @ self.C).reshape(Psi.shape[0], self.n_targets, self.n_alphas)
        return Y[:, :, None] - pred, (Z * Z) @ self.inv + self.hat_offset

    def mean_hat(self, n_rows: int) -> torch.Tensor:
        """``tr(H)/n`` for every α: (A,)."""
        return (self.s[:, None] * self.inv).sum(0) / n_rows + self.hat_offset


@splice_parameter_docs
class RandomFeatureRidgeCV(RidgeRegressorMixin, RegressorMixin, FeatureRidgeParams):
    """Random-feature ridge regression with the ridge parameter chosen by cross-validation.

    The features are drawn once (for ``alpha = min(alphas)``, see ``sampling_alpha``), then all
    ``alphas`` are scored from one eigendecomposition of ``ΨᵀΨ``: exact leave-one-out by
    default (``cv=None``), generalized CV with ``gcv=True``, or K-fold CV with ``cv=``. The
    criterion is the mean squared error of the held-out predictions over rows and targets.

    Parameters
    ----------
    {kernel}
    alphas : sequence of float, default=(0.1, 1.0, 10.0)
        Candidate ridge parameters (> 0); the first of equally good ones is chosen.
    {n_features}
    {sampling}
    sampling_alpha : float or "auto", default="auto"
        λ for the leverage scores of leverage samplers. The features are drawn with
        ``RandomFeatures(alpha=min(alphas), sampling_alpha=sampling_alpha)``: leverage scores
        decrease with λ, so the smallest α's distribution dominates every larger α's and
        Theorem 3.3 holds for all of them.
    {pool_size}
    {leverage_method}
    bandwidths : "auto", None or sequence of float, default="auto"
        Candidate bandwidths, tuned together with α. ``"auto"``: with a kernel whose bandwidth
        is ``"auto"`` (the default kernel), ``(0.5, 1, 2)`` × the resolved median heuristic; with
        a kernel that has a number (or no bandwidth), that kernel as it is. ``None``: the
        kernel as it is. A sequence of numbers: those bandwidths (the kernel must have one).
        For each bandwidth the features are drawn again with the same seed and every α is
        scored from its eigen-path; the pair with the smallest held-out error is chosen (the
        first bandwidth, then the first α, of equally good ones).
    cv : None, int or CV splitter, default=None
        ``None``: efficient leave-one-out (or GCV). An int k: k-fold; or any scikit-learn
        splitter. For K-fold the features are still drawn on all of ``X`` (a leverage sampler
        sees the held-out rows; this is not leakage of ``y``).
    gcv : bool, default=False
        With ``cv=None``, use generalized cross-validation (``h_i`` replaced by ``tr(H)/n``).
    store_cv_results : bool, default=False
        Keep the squared held-out errors of every row and α in ``cv_results_`` (``cv=None`` only).
    {batch_size}
    {dtype}
    {device}
    {random_state}
    {fit_intercept}

    Attributes
    ----------
    alpha_ : float
        The chosen ridge parameter.
    bandwidth_ : float or None
        The chosen bandwidth (the kernel's own when it is not tuned; ``None`` without one).
    bandwidths_ : ndarray of shape (n_bandwidths,) or None
        The bandwidths scored (one when the bandwidth is not tuned; ``None`` without one).
    best_score_ : float
        Minus the mean squared held-out error at ``alpha_`` (higher is better, as in sklearn).
    cv_mse_ : ndarray of shape (n_alphas,)
        Mean squared held-out error of every α, at ``bandwidth_``.
    cv_mse_grid_ : ndarray of shape (n_bandwidths, n_alphas)
        Mean squared held-out error of every pair (bandwidths in the order of ``bandwidths_``).
    cv_results_ : ndarray of shape (n_samples, n_alphas) or (n_samples, n_targets, n_alphas)
        Squared LOO (or GCV) errors; only with ``store_cv_results=True``.
    features_ : levrf.RandomFeatures
    coef_ : torch.Tensor of shape (D, n_targets)
        β at ``alpha_``, fitted on all rows.
    intercept_ : torch.Tensor of shape (n_targets,)
        ``ȳ − μᵀβ`` (zeros with ``fit_intercept=False``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """

    _parameter_constraints = {
        **{k: v for k, v in RANDOM_FEATURE_CONSTRAINTS.items() if k != "alpha"},
        "alphas": Checked(check_alphas, "a non-empty sequence of numbers > 0"),
        "bandwidths": [NoneValue(), Options("auto"), Checked(check_bandwidths, "a non-empty sequence of bandwidths")],
        "cv": [NoneValue(), Integer(2), Checked(check_splitter, "a CV splitter")],
        "gcv": Boolean(),
        "store_cv_results": Boolean(),
        "fit_intercept": Boolean(),
    }

    @deprecate_positional_args(legacy_names=_legacy_positional_names)
    def __init__(
        self,
        kernel=None,
        *,
        alphas=(0.1, 1.0, 10.0),
        n_features: int = 100,
        sampling: str = "gaussian",
        sampling_alpha="auto",
        pool_size: int | None = None,
        leverage_method: str = "auto",
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
        self.n_features = n_features
        self.sampling = sampling
        self.sampling_alpha = sampling_alpha
        self.pool_size = pool_size
        self.leverage_method = leverage_method
        self.bandwidths = bandwidths
        self.cv = cv
        self.gcv = gcv
        self.store_cv_results = store_cv_results
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.fit_intercept = fit_intercept

    def _validate_extra(self) -> None:
        if self.cv is not None and (self.gcv or self.store_cv_results):
            raise ValueError("gcv=True and store_cv_results=True need cv=None (leave-one-out)")
        if not isinstance(self.bandwidths, str) and self.bandwidths is not None \
                and not hasattr(resolve_kernel(self.kernel), "bandwidth"):
            raise ValueError(f"bandwidths={self.bandwidths!r} needs a kernel with a bandwidth, got "
                             f"{resolve_kernel(self.kernel)!r}; use bandwidths=None")

    def _tunes_bandwidth(self) -> bool:
        """Whether fit scores a grid of bandwidths (decided by the parameters alone)."""
        kernel = resolve_kernel(self.kernel)
        if self.bandwidths is None or not hasattr(kernel, "bandwidth"):
            return False
        return not (isinstance(self.bandwidths, str) and kernel.is_resolved)

    def _kernel_at(self, bandwidth) -> Kernel | None:
        """The kernel the features are drawn with at ``bandwidth`` (``None``: the estimator's own,
        when the bandwidth is not tuned)."""
        if not self._tunes_bandwidth():
            return None
        kernel = resolve_kernel(self.kernel)
        return type(kernel)(**{**kernel.get_params(), "bandwidth": float(bandwidth)})

    def _bandwidth_grid(self, rows: Rows) -> np.ndarray | None:
        """The bandwidths to score, or ``None`` when the kernel is used as it is."""
        if not self._tunes_bandwidth():
            return None
        if isinstance(self.bandwidths, str):  # "auto" with an "auto" kernel
            auto = fitted_kernel(self.kernel, rows, self.dtype, self.device).bandwidth
            return np.array([factor * auto for factor in AUTO_BANDWIDTH_FACTORS])
        return check_bandwidths(self.bandwidths)

    def _fit_rows(self, rows: Rows) -> None:
        dtype, device = working_dtype_device(self)
        alphas_np = check_alphas(self.alphas)
        alphas = torch.as_tensor(alphas_np, dtype=dtype, device=device)
        grid = self._bandwidth_grid(rows)
        if grid is None:  # the kernel as it is: one feature draw
            self.features_ = self._random_features(float(alphas_np.min())).fit_rows(rows)
            path, mse = self._score_alphas(rows, alphas)
            self.bandwidth_ = self.features_.bandwidth_
            self.bandwidths_ = None if self.bandwidth_ is None else np.array([self.bandwidth_])
            self.cv_mse_grid_ = mse[None, :]
        else:
            # one seed for every bandwidth: the same draws, rescaled (a Generator advances once)
            generator = isinstance(self.random_state, np.random.Generator | np.random.RandomState)
            seed = check_random_state(self.random_state) if generator else self.random_state
            rows_mse, best = [], None
            for bandwidth in grid:
                features = self._random_features(float(alphas_np.min()), kernel=self._kernel_at(bandwidth))
                features.random_state = seed
                self.features_ = features.fit_rows(rows)
                path, mse = self._score_alphas(rows, alphas)
                rows_mse.append(mse)
                if best is None or mse.min() < best[0]:
                    best = (mse.min(), float(bandwidth), self.features_, path, getattr(self, "cv_results_", None))
            _, self.bandwidth_, self.features_, path, results = best
            if self.store_cv_results:
                self.cv_results_ = results
            self.bandwidths_ = np.asarray(grid, dtype=np.float64)
            self.cv_mse_grid_ = np.stack(rows_mse)
            mse = rows_mse[int(np.flatnonzero(self.bandwidths_ == self.bandwidth_)[0])]
        best_alpha = int(np.argmin(mse))
        self.cv_mse_ = mse
        self.alpha_ = float(alphas_np[best_alpha])
        self.best_score_ = -float(mse[best_alpha])
        self.coef_ = check_finite(path.coef(best_alpha), "ridge coefficients")
        self.intercept_ = check_finite(path.intercept(self.coef_), "intercept")

    def _score_alphas(self, rows: Rows, alphas: torch.Tensor):
        """The eigen-path of ``features_`` and the held-out MSE (n_alphas,) of every α."""
        features = slim_copy(self.features_)
        if self.cv is None:
            path, sq_err = self._leave_one_out(rows, features, alphas)
        else:
            path, sq_err = self._k_fold(rows, features, alphas)
        return path, check_finite(sq_err, "cross-validation errors").cpu().numpy()

    def _leave_one_out(self, rows: Rows, features, alphas: torch.Tensor):
        n, k = rows.n_rows, rows.n_targets
        if n < 2:
            raise ValueError(f"leave-one-out cross-validation needs at least 2 samples, got n_samples={n}")
        sums = rows.sum(normal_equations_block, features)
        path = self._path(sums["gram"], sums["xty"], sums["psi_sum"], sums["y_sum"], n, alphas)
        gcv_scale = (1.0 - path.mean_hat(n)) if self.gcv else None
        keep = self.store_cv_results and rows.in_memory
        err = rows.sum(loo_block, features, path, gcv_scale, keep)
        if self.store_cv_results:
            if keep:
                res = err["rows"].cpu().numpy()
                self.cv_results_ = res[:, 0, :] if self._single_target else res
            else:  # lazy: computed on demand, block by block
                single = self._single_target
                self.cv_results_ = rows.map(
                    stored_loo_errors, features, path, gcv_scale, single, with_targets=True,
                    n_columns=path.n_alphas if single else k, trailing=() if single else (path.n_alphas,),
                )
        return path, err["sq_err"] / (n * k)

    def _path(self, G, R, psi_sum, y_sum, n_rows: int, alphas: torch.Tensor) -> _EigenPath:
        """The eigen-path of the rows whose sums these are (centred with ``fit_intercept``)."""
        G = check_finite(G, "random features Psi^T Psi")  # eigh reads the lower triangle only
        if not self.fit_intercept:
            return _EigenPath(G, R, alphas)
        Gc, Rc, mean, y_mean = centred_normal_equations(G, R, psi_sum, y_sum, n_rows)
        return _EigenPath(Gc, Rc, alphas, mean, y_mean, n_rows)

    def _splits(self, rows: Rows):
        """``(outside, tests, partition)``: per split, the rows outside its training set and its
        test rows (row groups of :mod:`levrf.ridge.blocks`), and whether the ``outside`` groups
        partition the rows (so that their Grams add up to the total)."""
        if not rows.in_memory:
            folds = contiguous_folds(self.cv, rows.n_rows)
            return folds, folds, True
        Y = rows.Y
        y_for_split = Y[:, 0].cpu().numpy() if self._single_target else Y.cpu().numpy()
        splits = list(check_cv(self.cv, y_for_split, classifier=False).split(np.empty((rows.n_rows, 0)), y_for_split))
        outside, tests = [], []
        for train, test in splits:
            mask = np.ones(rows.n_rows, dtype=bool)
            mask[train] = False
            outside.append(torch.as_tensor(np.flatnonzero(mask)))
            tests.append(torch.as_tensor(np.sort(test)))
        return tuple(outside), tuple(tests), False

    def _k_fold(self, rows: Rows, features, alphas: torch.Tensor):
        # the training Gram of a split is G minus the Gram of the rows outside its training set
        outside, tests, partition = self._splits(rows)
        sums = rows.sum(normal_equations_block, features, outside, None, not partition)
        keys = ("gram", "xty", "psi_sum", "y_sum", "count")
        groups = [{key: sums[f"{key}_{g}"] for key in keys} for g in range(len(outside))]
        total = {key: sum(part[key] for part in groups) for key in keys} if partition else sums
        paths = []
        for part in groups:
            train = {key: total[key] - part[key] for key in keys}
            paths.append(self._path(train["gram"], train["xty"], train["psi_sum"], train["y_sum"],
                                    int(train["count"]), alphas))
        err = rows.sum(held_out_error_block, features, paths, tests)
        count = int(err["count"])
        if count == 0:
            raise ValueError("the cross-validation splits have no test rows")
        full = self._path(total["gram"], total["xty"], total["psi_sum"], total["y_sum"], rows.n_rows, alphas)
        return full, err["sq_err"] / count


def stored_loo_errors(X, Y, features, path, gcv_scale, single_target: bool) -> torch.Tensor:
    """Squared LOO/GCV errors of some rows: (b, A), or (b, k, A) for several targets."""
    out = torch.empty(X.shape[0], Y.shape[1], path.n_alphas, dtype=X.dtype, device=X.device)
    for s, Psi in features.iter_chunks(X, reuse=True):
        out[s : s + Psi.shape[0]] = loo_errors(Psi, Y[s : s + Psi.shape[0]], path, gcv_scale)
    return out[:, 0, :] if single_target else out


def contiguous_folds(cv, n_rows: int) -> tuple[tuple[int, int], ...]:
    """The row ranges of scikit-learn's unshuffled ``KFold`` (an int ``cv`` means ``KFold(cv)``):
    the only splits of rows that are not in memory (Dask), where a fold must be a row range."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        n_splits = int(cv)
    elif isinstance(cv, KFold) and not cv.shuffle:
        n_splits = cv.n_splits
    else:
        raise ValueError(
            f"with a Dask array X, cv must be None (leave-one-out/GCV), an int or an unshuffled KFold "
            f"(contiguous folds), got {cv!r}"
        )
    if n_splits > n_rows:
        raise ValueError(f"cv={n_splits} folds need at least {n_splits} rows, X has {n_rows}")
    sizes = np.full(n_splits, n_rows // n_splits, dtype=np.int64)
    sizes[: n_rows % n_splits] += 1
    stops = np.cumsum(sizes)
    return tuple((int(b - s), int(b)) for s, b in zip(sizes, stops, strict=True))
