"""Ridge classification: regress one-hot ±1 targets, predict the class of the largest score.

As scikit-learn's ``RidgeClassifier``: two classes use one column (+1 for ``classes_[1]``,
−1 for ``classes_[0]``) and ``decision_function`` returns a 1-D score; more classes use one
column per class and the prediction is the argmax.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


class RidgeClassifierMixin:
    """``fit``/``decision_function``/``predict`` on top of a ridge core.

    The core class provides ``_fit_arrays(X, Y)`` (validated X, (n, k) float targets) and
    ``_decision_arrays(X)`` returning (n, k) scores.
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
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        Y = binarizer.fit_transform(y).astype(np.float64)
        if len(binarizer.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; got only one class "
                f"({binarizer.classes_[0]!r})"
            )
        self._fit_arrays(X, Y)
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
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        scores = self._decision_arrays(X)
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
        return self.classes_[index]
