"""Ridge regression front end: validate ``X``/``y``, fit a core, return NumPy predictions."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ..distributed._lazy import is_dask_collection
from ._base import targets_2d


class RidgeRegressorMixin:
    """``fit``/``predict`` for single- and multi-output targets on top of a ridge core.

    The core class provides ``_fit_arrays(X, Y)`` (validated X, (n, k) float targets) and
    ``_decision_arrays(X)`` returning (n, k) predictions.
    """

    def fit(self, X, y):
        """Fit on ``X`` (n, d) and targets ``y`` (n,) or (n, k).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        if is_dask_collection(X):  # Dask array: distributed row sums (levrf.distributed)
            from ..distributed.estimators import fit_ridge

            return fit_ridge(self, X, y)
        self._check_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32])
        self._single_target = y.ndim == 1
        self._fit_arrays(X, targets_2d(y))
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions, (n,) for a 1-D training target, else (n, n_targets).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray
            (A lazy Dask array when ``X`` is a Dask array.)
        """
        if is_dask_collection(X):
            from ..distributed.estimators import predict

            return predict(self, X)
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        pred = self._decision_arrays(X)
        return pred[:, 0] if self._single_target else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
