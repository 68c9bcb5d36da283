"""Ridge regression front end: validate ``X``/``y``, fit a core on rows, return predictions."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ..rows import is_dask_collection
from ._base import input_rows, targets_2d, training_rows


class RidgeRegressorMixin:
    """``fit``/``predict`` for single- and multi-output targets on top of a ridge core.

    The core class provides ``_fit_rows(rows)`` (:class:`levrf.rows.Rows` with (n, k) float
    targets) and ``_decision_rows(rows)`` returning (n, k) predictions (NumPy, or a lazy Dask
    array for Dask rows).
    """

    def fit(self, X, y):
        """Fit on ``X`` (n, d) and targets ``y`` (n,) or (n, k).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or a Dask array/DataFrame: the sums over rows run as Dask tasks (``levrf.distributed``).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        self._validate_params()
        if is_dask_collection(X) or is_dask_collection(y):
            rows = training_rows(self, X, y)
        else:
            X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32])
            rows = training_rows(self, X, targets_2d(y), y_validated=y)
        self._single_target = rows.single_target
        self._fit_rows(rows)
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
        check_is_fitted(self)
        pred = self._decision_rows(input_rows(self, X))
        return pred[:, 0] if self._single_target else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
