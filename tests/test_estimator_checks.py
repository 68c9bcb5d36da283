"""scikit-learn's own estimator checks for every levrf estimator."""

import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

import levrf

torch.set_num_threads(1)

ESTIMATORS = [
    levrf.KernelRidge(),
    levrf.KernelRidgeClassifier(),
    levrf.RandomFeatureRidge(),
    levrf.RandomFeatureRidge(gram_dtype="float32"),  # float32 Gram + float64 refinement
    levrf.RandomFeatureRidgeClassifier(),
    levrf.RandomFeatureRidgeCV(),
    levrf.RandomFeatures(),
]


def expected_failures(estimator) -> dict[str, str]:
    if isinstance(estimator, levrf.RandomFeatureRidgeCV):
        return {
            # The check asserts a *training* R² > 0.5 on make_regression(n_features=10,
            # n_informative=1). With the default GaussianKernel(1.0) in 10 dimensions,
            # leave-one-out correctly prefers the strongest ridge α=10 among the default
            # alphas (held-out MSE 0.96 vs 0.98 at α=1, on standardized y), whose training
            # R² is 0.19; RandomFeatureRidge with a fixed α=1 passes the same check. The
            # LOO values themselves are tested against brute-force refits in test_ridge_cv.py.
            "check_regressors_train": "LOO picks alpha=10 with training R^2 0.19 (see comment)",
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
