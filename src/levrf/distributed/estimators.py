"""Dask inputs for the estimators: the fit/predict code that their methods dispatch to.

``RandomFeatures.fit``/``transform``, ``RandomFeatureRidge.fit``/``predict`` and
``RandomFeatureRidgeCV.fit`` call these functions when ``X`` is a Dask collection. The weights
are drawn on the client (they do not depend on the data, except through the leverage scores of
a row subsample); every sum over rows runs as Dask tasks (:mod:`levrf.distributed.reduce`);
the D × D solves run on the client.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from .._validation import as_generator, check_random_state, resolve_dtype
from ..features import resolve_kernel
from ..leverage.samplers import make_sampler
from ..ridge._base import check_finite, check_ridge_params
from ..ridge.cv import RandomFeatureRidgeCV, _EigenPath, check_alphas
from ..ridge.random_features import RandomFeatureRidgeClassifier, _RandomFeatureRidgeCore
from ..ridge.solvers import ridge_solve
from . import blocks as B
from ._lazy import require_dask
from .reduce import RowBlocks, as_row_blocks, reduce_row_blocks
from .shipping import Shipped, slim_features


def _numpy_dtype(dtype) -> np.dtype:
    return np.dtype(str(resolve_dtype(dtype)).replace("torch.", ""))


def _set_input_names(est, blocks: RowBlocks) -> None:
    est.n_features_in_ = blocks.n_columns
    if blocks.feature_names is not None:
        est.feature_names_in_ = blocks.feature_names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_


def _check_input(est, X) -> RowBlocks:
    """Validate a Dask ``X`` for a fitted estimator: same number (and names) of columns."""
    blocks = as_row_blocks(X, dtype=_numpy_dtype(est.dtype))
    if blocks.n_columns != est.n_features_in_:
        raise ValueError(
            f"X has {blocks.n_columns} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    fitted_names = getattr(est, "feature_names_in_", None)
    if fitted_names is not None and blocks.feature_names is not None:
        if list(fitted_names) != list(blocks.feature_names):
            raise ValueError("The feature names of X do not match those seen in fit")
    return blocks


# ----------------------------------------------------------------------------- RandomFeatures
def fit_random_features(features, X, *, blocks: RowBlocks | None = None):
    """``RandomFeatures.fit`` on a Dask array: draw the weights on the client.

    Data-independent samplers (``"gaussian"``, ``"surrogate"``) need only the number of
    columns. ``"leverage"`` with ``leverage_method="approximate"`` scores its candidate pool on
    a uniform row subsample of fixed size gathered from the workers (see
    :mod:`levrf.distributed.leverage`); exact leverage and rejection sampling need the whole
    n × n kernel matrix and are refused.
    """
    features._check_params()
    kernel = resolve_kernel(features.kernel)
    if not kernel.has_features:
        raise ValueError(f"kernel {kernel!r} has no random features; use levrf.KernelRidge instead")
    if blocks is None:
        blocks = as_row_blocks(X, dtype=_numpy_dtype(features.dtype))
    sampler = make_sampler(features.sampling, **features._sampler_options())
    if type(sampler).__name__ == "RejectionSampler":
        raise ValueError(
            "leverage_method='rejection' needs the n x n kernel matrix in memory; with a Dask array X "
            "use leverage_method='approximate'"
        )
    kernel = features._kernel_on_device(kernel)
    dtype, device = resolve_dtype(features.dtype), kernel.torch_device
    sample = sampler.draw(kernel, blocks.X, int(features.n_features), as_generator(check_random_state(features.random_state)))
    features.kernel_ = kernel
    features.weights_ = sample.weights.to(dtype=dtype, device=device)
    features.importance_ = sample.importance.to(dtype=dtype, device=device)
    features.leverage_ = None if sample.leverage is None else sample.leverage.to(dtype=dtype, device=device)
    features.sampling_info_ = dict(sample.info)
    features.statistical_dimension_ = features.sampling_info_.get("statistical_dimension")
    features.sampling_alpha_ = features.sampling_info_.get("sampling_alpha")
    features.mixture_ = features.sampling_info_.get("mixture")
    features.feature_dim_ = kernel.feature_dim(blocks.n_columns)
    features.n_output_features_ = int(features.n_features) * features.feature_dim_
    _set_input_names(features, blocks)
    return features


def _transform_task(x, shipped):
    return B.transform_block(x, shipped.value)


def transform(features, X):
    """``RandomFeatures.transform`` of a Dask array: a lazy Dask array Ψ (n, m·d2).

    Parameters
    ----------
    features : fitted levrf.RandomFeatures
    X : Dask array or DataFrame (n, d)

    Returns
    -------
    dask.array.Array (n, m·d2), with ``X``'s row blocks; each block is computed by one task.
    """
    check_is_fitted(features, "weights_")
    blocks = _check_input(features, X)
    ref = Shipped(slim_features(features), "levrf-features").delayed()
    D = features.n_output_features_
    return blocks.X.map_blocks(
        _transform_task, ref, chunks=(blocks.X.chunks[0], (D,)), dtype=blocks.X.dtype, meta=np.empty((0, 0), blocks.X.dtype)
    )


# ----------------------------------------------------------------------------- ridge
@dataclass
class NormalEquationSums:
    """``ΨᵀΨ`` (D, D), ``ΨᵀY`` (D, k) or ``None``, and the number of rows that were summed."""

    gram: torch.Tensor
    xty: torch.Tensor | None
    n_rows: int


def normal_equations(features, X, y=None) -> NormalEquationSums:
    """``ΨᵀΨ`` and ``ΨᵀY`` of a Dask array, summed over its row blocks by Dask tasks.

    Parameters
    ----------
    features : fitted levrf.RandomFeatures
    X : Dask array or DataFrame (n, d)
    y : None, array-like or Dask array (n,) or (n, k)

    Returns
    -------
    NormalEquationSums
        ``n_rows`` is the count of rows that entered the sums; it has been checked to equal n.
    """
    check_is_fitted(features, "weights_")
    blocks = as_row_blocks(X, y, dtype=_numpy_dtype(features.dtype))
    if blocks.n_columns != features.n_features_in_:
        raise ValueError(f"X has {blocks.n_columns} features, but the feature map expects {features.n_features_in_}")
    sums = _normal_equations(features, blocks)
    return NormalEquationSums(sums["gram"], sums.get("xty"), int(sums["n_rows"]))


def _normal_equations(features, blocks: RowBlocks, folds: tuple[tuple[int, int], ...] = ()) -> dict:
    """Distributed ``ΨᵀΨ`` and ``ΨᵀY`` (per fold with ``folds``) as tensors on the feature device."""
    shipped = Shipped(slim_features(features), "levrf-features")
    sums = reduce_row_blocks(B.normal_equations_block, blocks, shipped, Shipped(folds, "levrf-folds"))
    dtype, device = features.weights_.dtype, features.weights_.device
    out = {k: torch.from_numpy(np.asarray(v)).to(dtype=dtype, device=device) for k, v in sums.items() if k != "n_rows"}
    out["n_rows"] = sums["n_rows"]
    return out


def fit_ridge(est, X, y):
    """``fit`` of ``RandomFeatureRidge`` and ``RandomFeatureRidgeCV`` on a Dask array.

    Parameters
    ----------
    est : RandomFeatureRidge or RandomFeatureRidgeCV
    X : Dask array or DataFrame (n, d)
    y : array-like or Dask array (n,) or (n, k)

    Returns
    -------
    est, fitted: the same attributes as an in-memory fit (``cv_results_`` is a lazy Dask array).
    """
    supported = isinstance(est, _RandomFeatureRidgeCore | RandomFeatureRidgeCV)
    if not supported or isinstance(est, RandomFeatureRidgeClassifier):
        raise TypeError(
            f"{type(est).__name__}.fit does not accept Dask arrays; RandomFeatureRidge and "
            "RandomFeatureRidgeCV do (exact kernel ridge needs the n x n kernel matrix in memory)"
        )
    est._check_params()
    if y is None:
        raise ValueError("y must be given: an array of shape (n,) or (n, n_targets)")
    blocks = as_row_blocks(X, y, dtype=_numpy_dtype(est.dtype))
    _set_input_names(est, blocks)
    est._single_target = blocks.single_target
    if isinstance(est, RandomFeatureRidgeCV):
        _fit_ridge_cv(est, blocks)
    else:
        dtype, _ = check_ridge_params(est)
        if est._gram_dtype() != dtype:
            raise ValueError(
                "gram_dtype other than dtype is not supported for Dask inputs (their refinement "
                "passes are not implemented); use gram_dtype=None"
            )
        est.refine_residuals_ = []
        est.features_ = fit_random_features(est._random_features(float(est.alpha)), None, blocks=blocks)
        sums = _normal_equations(est.features_, blocks)
        G = check_finite(sums["gram"], "random features Psi^T Psi")
        R = check_finite(sums["xty"], "products Psi^T y")
        coef, est.jitter_ = ridge_solve(G, R, float(est.alpha))
        est.coef_ = check_finite(coef, "ridge coefficients")
    return est


def contiguous_folds(cv, n_rows: int) -> tuple[tuple[int, int], ...]:
    """The row ranges of scikit-learn's unshuffled ``KFold`` (an int ``cv`` means ``KFold(cv)``)."""
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


def _fit_ridge_cv(est, blocks: RowBlocks) -> None:
    dtype, device = check_ridge_params(est)
    alphas_np = check_alphas(est.alphas)
    alphas = torch.as_tensor(alphas_np, dtype=dtype, device=device)
    est.features_ = fit_random_features(est._random_features(float(alphas_np.min())), None, blocks=blocks)
    features = Shipped(slim_features(est.features_), "levrf-features")
    n, k = blocks.n_rows, blocks.Y.shape[1]
    if est.cv is None:
        sums = _normal_equations(est.features_, blocks)
        G = check_finite(sums["gram"], "random features Psi^T Psi")
        path = _EigenPath(G, sums["xty"], alphas)
        gcv_scale = (1.0 - path.mean_hat(n)) if est.gcv else None
        err = reduce_row_blocks(
            B.loo_block, blocks, features, Shipped(path, "levrf-path"), Shipped(gcv_scale, "levrf-gcv")
        )
        if est.store_cv_results:
            est.cv_results_ = _lazy_cv_results(est, blocks, features, path, gcv_scale)
    else:
        folds = contiguous_folds(est.cv, n)
        sums = _normal_equations(est.features_, blocks, folds)
        grams = [sums[f"gram_{f}"] for f in range(len(folds))]
        xtys = [sums[f"xty_{f}"] for f in range(len(folds))]
        G = check_finite(torch.stack(grams).sum(0), "random features Psi^T Psi")
        R = torch.stack(xtys).sum(0)
        paths = [_EigenPath(G - Gf, R - Rf, alphas) for Gf, Rf in zip(grams, xtys, strict=True)]
        err = reduce_row_blocks(
            B.fold_error_block, blocks, features, Shipped(paths, "levrf-paths"), Shipped(folds, "levrf-folds")
        )
        path = _EigenPath(G, R, alphas)
    sq_err = torch.from_numpy(np.asarray(err["sq_err"])).to(dtype=dtype, device=device)
    mse = check_finite(sq_err / (n * k), "cross-validation errors").cpu().numpy()
    best = int(np.argmin(mse))
    est.cv_mse_ = mse
    est.alpha_ = float(alphas_np[best])
    est.best_score_ = -float(mse[best])
    est.coef_ = check_finite(path.coef(best), "ridge coefficients")


def _cv_results_task(xy, features, path, gcv_scale, single_target):
    f, p, g = features.value, path.value, gcv_scale.value
    d = f.n_features_in_
    X, Y = B.block_tensor(xy[:, :d], f, "X", -1), B.block_tensor(xy[:, d:], f, "y", -1)
    out = np.empty((X.shape[0], Y.shape[1], p.n_alphas), dtype=xy.dtype)
    for s, Psi in f.iter_chunks(X, reuse=True):
        resid, hat = p.residuals(Psi, Y[s : s + Psi.shape[0]])
        denom = g[None, None, :] if g is not None else (1.0 - hat)[:, None, :]
        out[s : s + Psi.shape[0]] = ((resid / denom) ** 2).cpu().numpy()
    return out[:, 0, :] if single_target else out


def _lazy_cv_results(est, blocks, features, path, gcv_scale):
    """Squared LOO/GCV errors (n, A) or (n, k, A) as a lazy Dask array (computed on demand)."""
    _, da = require_dask()
    k, A = blocks.Y.shape[1], path.n_alphas
    chunks = (blocks.X.chunks[0], (A,)) if est._single_target else (blocks.X.chunks[0], (k,), (A,))
    refs = [features.delayed(), Shipped(path, "levrf-path").delayed(), Shipped(gcv_scale, "levrf-gcv").delayed()]
    # X and Y side by side in one array, so that each task gets its rows of both
    XY = da.concatenate([blocks.X, blocks.Y.astype(blocks.X.dtype)], axis=1).rechunk({1: -1})
    return XY.map_blocks(
        _cv_results_task, *refs, est._single_target,
        chunks=chunks, dtype=blocks.X.dtype, new_axis=None if est._single_target else [2],
        meta=np.empty((0,) * len(chunks), dtype=blocks.X.dtype),
    )


def _predict_task(x, shipped):
    features, coef, single = shipped.value
    return B.predict_block(x, features, coef, single)


def predict(est, X):
    """``predict`` of a fitted random-feature ridge on a Dask array.

    Parameters
    ----------
    est : fitted RandomFeatureRidge or RandomFeatureRidgeCV
    X : Dask array or DataFrame (n, d)

    Returns
    -------
    dask.array.Array (n,) or (n, k), lazy, with ``X``'s row blocks.
    """
    if not hasattr(est, "features_"):
        raise TypeError(
            f"{type(est).__name__}.predict does not accept Dask arrays; RandomFeatureRidge and "
            "RandomFeatureRidgeCV do"
        )
    check_is_fitted(est, "coef_")
    blocks = _check_input(est, X)
    single = bool(est._single_target)
    ref = Shipped((slim_features(est.features_), est.coef_, single), "levrf-model").delayed()
    if single:
        return blocks.X.map_blocks(
            _predict_task, ref, drop_axis=1, dtype=blocks.X.dtype, meta=np.empty((0,), blocks.X.dtype)
        )
    k = int(est.coef_.shape[1])
    return blocks.X.map_blocks(
        _predict_task, ref, chunks=(blocks.X.chunks[0], (k,)), dtype=blocks.X.dtype,
        meta=np.empty((0, 0), blocks.X.dtype),
    )
