"""scikit-learn's own estimator checks for the Nyström transformer and estimators."""

import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

import levrf

torch.set_num_threads(1)

ESTIMATORS = [
    levrf.Nystroem(),
    levrf.Nystroem(centers="leverage"),
    levrf.NystromRidge(),
    levrf.NystromRidge(centers="leverage", gram_dtype="float32"),  # float32 Gram + float64 refinement
    levrf.NystromRidgeClassifier(),
    levrf.NystromRidgeCV(),
]


def expected_failures(estimator) -> dict[str, str]:
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
