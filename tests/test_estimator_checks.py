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
    levrf.RandomFeatureRidge(solver="cg"),  # matrix-free preconditioned CG
    levrf.RandomFeatureRidgeClassifier(),
    levrf.RandomFeatureRidgeClassifier(solver="cg", gram_dtype="float32"),  # float32 passes + float64 check
    levrf.RandomFeatureRidgeCV(),
    levrf.RandomFeatures(),
]


# RandomFeatureRidgeCV's check_regressors_train (a training R² > 0.5) was an expected failure
# with the former default GaussianKernel(1.0) in 10 dimensions; the median bandwidth passes it
def expected_failures(estimator) -> dict[str, str]:
    # estimators with a max_iter parameter must report n_iter_ >= 1; a direct (Cholesky) solve
    # runs no iteration, and levrf reports n_iter_ = 0 for it (scikit-learn's Ridge: None)
    if getattr(estimator, "solver", "cg") != "cg":
        return {"check_non_transformer_estimators_n_iter": "n_iter_ = 0: the direct solver runs no iteration"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
