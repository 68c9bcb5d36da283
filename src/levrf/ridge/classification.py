"""Ridge classification: regress one-hot ±1 targets, predict the class of the largest score.

As scikit-learn's ``RidgeClassifier``: two classes use one column (+1 for ``classes_[1]``,
−1 for ``classes_[0]``) and ``decision_function`` returns a 1-D score; more classes use one
column per class and the prediction is the argmax.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..rows import is_dask_collection
from ._base import input_rows, training_rows


class RidgeClassifierMixin:
    """``fit``/``decision_function``/``predict`` on top of a ridge core.

    The core class provides ``_fit_rows(rows)`` (:class:`levrf.rows.Rows` with (n, k) float
    targets) and ``_decision_rows(rows)`` returning (n, k) scores. With a Dask ``X`` the labels
    ``y`` (n values) are brought to the client to find the classes; the rows stay distributed.
    """

    def fit(self, X, y):
        """Fit on ``X`` (n, d) and class labels ``y`` (n,).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two distinct classes).

        Returns
        -------
        self
        """
        self._validate_params()
        dask_input = is_dask_collection(X) or is_dask_collection(y)
        if dask_input:
            y = column_or_1d(np.asarray(y.compute() if is_dask_collection(y) else y), warn=True)
        else:
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        Y = binarizer.fit_transform(y).astype(np.float64)
        if len(binarizer.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; got only one class "
                f"({binarizer.classes_[0]!r})"
            )
        rows = training_rows(self, X, Y) if dask_input else training_rows(self, X, Y, y_validated=Y)
        self._fit_rows(rows)
        self.classes_ = binarizer.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        """Scores: (n,) for two classes (positive means ``classes_[1]``), else (n, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray
        """
        check_is_fitted(self, "classes_")
        scores = self._decision_rows(input_rows(self, X))
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X) -> np.ndarray:
        """Class labels: the class of the largest score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        if isinstance(index, np.ndarray):
            return self.classes_[index]
        return index.map_blocks(self.classes_.__getitem__, dtype=self.classes_.dtype)  # lazy (Dask)
