"""Exact kernel ridge regression: ``α = (K + λI)⁻¹ Y``, ``f(z) = K(z, X) α``.

Costs O(n²) memory and O(n³) time for the fit (a Cholesky factorization of the n × n matrix
``K + λI``), O(n) kernel evaluations per prediction. Works with every levrf kernel, including
those known only in closed form (``DeepReLUNTK``).
"""

from __future__ import annotations

import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from .._validation import Boolean, Real, ValidatedParameters, deprecate_positional_args
from ..features import (
    ESTIMATOR_CONSTRAINTS,
    chunk_rows,
    fitted_kernel,
    kernel_bandwidth,
    splice_parameter_docs,
)
from ..rows import Rows
from ._base import check_finite, kernel_on, working_dtype_device
from .classification import RidgeClassifierMixin
from .regression import RidgeRegressorMixin
from .solvers import cholesky_solve


class _KernelRidgeCore(ValidatedParameters, BaseEstimator):
    """Parameters, fit and decision of exact KRR, shared by the regressor and the classifier."""

    _parameter_constraints = {
        "kernel": ESTIMATOR_CONSTRAINTS["kernel"],
        "alpha": Real(0.0),
        "batch_size": ESTIMATOR_CONSTRAINTS["batch_size"],
        "dtype": ESTIMATOR_CONSTRAINTS["dtype"],
        "device": ESTIMATOR_CONSTRAINTS["device"],
        "fit_intercept": Boolean(),
    }

    @deprecate_positional_args
    def __init__(
        self,
        kernel=None,
        *,
        alpha: float = 1.0,
        batch_size: int | None = None,
        dtype: str = "float64",
        device: str = "cpu",
        fit_intercept: bool = True,
    ) -> None:
        self.kernel = kernel
        self.alpha = alpha
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.fit_intercept = fit_intercept

    def _validate_extra(self) -> None:
        kernel_on(self.kernel, self.dtype, self.device)

    def _kernel_rows(self, n_rows: int) -> int:
        # a kernel block and ~3 same-sized intermediates (distances, products) per row
        itemsize = torch.empty((), dtype=self._torch_dtype).element_size()
        return chunk_rows(n_rows, 4 * itemsize * self.X_fit_.shape[0], self.batch_size)

    def _kernel_matrix(self, Z: torch.Tensor) -> torch.Tensor:
        """``K(Z, X_fit_)`` built in row blocks into one preallocated matrix."""
        K = torch.empty(Z.shape[0], self.X_fit_.shape[0], dtype=Z.dtype, device=Z.device)
        step = self._kernel_rows(Z.shape[0])
        for start in range(0, Z.shape[0], step):
            block = self.kernel_.compute(Z[start : start + step], self.X_fit_)
            K[start : start + step] = block
        return K

    def _fit_rows(self, rows: Rows) -> None:
        if not rows.in_memory:
            raise TypeError(
                f"{type(self).__name__}.fit does not accept Dask arrays: exact kernel ridge needs the n x n "
                "kernel matrix in memory; RandomFeatureRidge and RandomFeatureRidgeCV accept them"
            )
        self._torch_dtype, _ = working_dtype_device(self)
        self.kernel_ = fitted_kernel(self.kernel, rows, self.dtype, self.device)
        self.bandwidth_ = kernel_bandwidth(self.kernel_)
        self.X_fit_ = rows.X.clone()
        K = check_finite(self._kernel_matrix(self.X_fit_), "kernel values K(X, X)")
        K.diagonal().add_(float(self.alpha))
        Y = rows.Y
        if self.fit_intercept:  # solve for Y and for 1 with one factorization
            Y = torch.cat([Y, torch.ones(Y.shape[0], 1, dtype=Y.dtype, device=Y.device)], dim=1)
        coef, self.jitter_ = cholesky_solve(K, Y, what="K + alpha*I")
        if self.fit_intercept:
            # the unpenalized intercept: b = 1ᵀ(K+αI)⁻¹y / 1ᵀ(K+αI)⁻¹1, A = (K+αI)⁻¹(y − b)
            coef, ones = coef[:, :-1], coef[:, -1:]
            intercept = coef.sum(0) / ones.sum()
            coef = coef - ones * intercept[None, :]
        else:
            intercept = torch.zeros(Y.shape[1], dtype=Y.dtype, device=Y.device)
        self.dual_coef_ = check_finite(coef, "dual coefficients")
        self.intercept_ = check_finite(intercept, "intercept")

    def _decision_rows(self, rows: Rows):
        """``K(Z, X) A`` (n, k): NumPy for rows in memory, a lazy Dask array otherwise."""
        return rows.map(kernel_predictions, self, n_columns=self.dual_coef_.shape[1])


def kernel_predictions(Z: torch.Tensor, model: _KernelRidgeCore) -> torch.Tensor:
    """``K(Z, X_fit) A`` of some rows, in row blocks of ``K`` (the row-wise map of ``predict``)."""
    out = torch.empty(Z.shape[0], model.dual_coef_.shape[1], dtype=Z.dtype, device=Z.device)
    step = model._kernel_rows(Z.shape[0])
    for start in range(0, Z.shape[0], step):
        block = model.kernel_.compute(Z[start : start + step], model.X_fit_)
        out[start : start + step] = block @ model.dual_coef_
    out += model.intercept_[None, :]
    return check_finite(out, "predictions")


@splice_parameter_docs
class KernelRidge(RidgeRegressorMixin, RegressorMixin, _KernelRidgeCore):
    """Exact kernel ridge regression with any levrf kernel.

    Solves ``(K + αI) A = Y`` by a Cholesky factorization and predicts ``f(z) = K(z, X) A``
    ``+ b``, with an unpenalized intercept ``b`` (``fit_intercept=True``, the default). With
    ``fit_intercept=False`` it equals scikit-learn's ``KernelRidge(kernel="rbf",
    gamma=1/(2σ²), alpha=α)`` for ``GaussianKernel(σ)``.

    If ``K + αI`` is numerically singular (α below the rounding error of K), a diagonal jitter
    ``10**k · eps · mean(diag)`` (k = 0..5) is added, a ``JitterWarning`` is issued and the
    jitter is stored in ``jitter_``; if that fails too, ``numpy.linalg.LinAlgError`` is raised.

    Parameters
    ----------
    kernel : levrf kernel, default=None
        Any levrf kernel, closed-form-only ones too; ``None`` means ``GaussianKernel()``, whose
        ``bandwidth="auto"`` is resolved from the training rows in ``fit``.
    alpha : float, default=1.0
        Ridge parameter λ > 0 (the system is ``K + αI``, not scaled by n).
    {batch_size}
    {dtype}
    {device}
    fit_intercept : bool, default=True
        Fit an unpenalized intercept ``b``: the minimizer of ``‖y − KA − b‖² + α AᵀKA`` is
        ``b = 1ᵀ(K + αI)⁻¹y / 1ᵀ(K + αI)⁻¹1`` and ``A = (K + αI)⁻¹(y − b)`` (one more solve
        with the same Cholesky factor). ``False``: no intercept.

    Attributes
    ----------
    dual_coef_ : torch.Tensor of shape (n_samples, n_targets)
        ``A = (K + αI)⁻¹ (Y − b)``.
    intercept_ : torch.Tensor of shape (n_targets,)
        ``b`` (zeros with ``fit_intercept=False``).
    X_fit_ : torch.Tensor of shape (n_samples, n_features_in_)
        A copy of the training inputs.
    kernel_ : levrf kernel
        The kernel used, on ``device`` and in ``dtype``, with ``bandwidth="auto"`` resolved.
    bandwidth_ : float or None
        The bandwidth of ``kernel_`` (``None`` for kernels without one).
    jitter_ : float
        Diagonal jitter that had to be added (0.0 normally).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np, levrf
    >>> X = np.linspace(0, 1, 20)[:, None]; y = np.sin(4 * X[:, 0])
    >>> model = levrf.KernelRidge(levrf.GaussianKernel(0.3), alpha=1e-3).fit(X, y)
    >>> bool(abs(model.predict(X) - y).max() < 0.05)
    True
    """


@splice_parameter_docs
class KernelRidgeClassifier(RidgeClassifierMixin, ClassifierMixin, _KernelRidgeCore):
    """Exact kernel ridge classification: KRR on one-hot ±1 targets, argmax prediction.

    Parameters
    ----------
    kernel : levrf kernel, default=None
        Any levrf kernel, closed-form-only ones too; ``None`` means ``GaussianKernel()``, whose
        ``bandwidth="auto"`` is resolved from the training rows in ``fit``.
    alpha : float, default=1.0
        Ridge parameter λ > 0 (the system is ``K + αI``, not scaled by n).
    {batch_size}
    {dtype}
    {device}
    fit_intercept : bool, default=True
        Fit an unpenalized intercept ``b``: the minimizer of ``‖y − KA − b‖² + α AᵀKA`` is
        ``b = 1ᵀ(K + αI)⁻¹y / 1ᵀ(K + αI)⁻¹1`` and ``A = (K + αI)⁻¹(y − b)`` (one more solve
        with the same Cholesky factor). ``False``: no intercept.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    dual_coef_ : torch.Tensor of shape (n_samples, 1 or n_classes)
    intercept_ : torch.Tensor of shape (1 or n_classes,)
    X_fit_ : torch.Tensor
    kernel_ : levrf kernel
    bandwidth_ : float or None
    jitter_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """
