"""Kernels are scikit-learn parameterised: get_params/set_params by constructor names, clone, search.

``GridSearchCV(..., {"…__kernel__bandwidth": [...]})`` must work for every estimator and pick
what an independent loop over the same candidates (estimators built directly, scored by
``cross_val_score``) picks.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import levrf


def user_kernel():
    return levrf.FunctionKernel(
        sample=lambda m, d, g: torch.randn(m, d, generator=g, dtype=torch.float64),
        features=lambda X, W: torch.stack([torch.cos(X @ W.T), torch.sin(X @ W.T)], dim=-1),
        exact=lambda X, Z: torch.exp(-0.5 * torch.cdist(X, Z) ** 2),
        feature_dim=2,
    )


KERNELS = [
    levrf.GaussianKernel(1.5),
    levrf.LaplacianKernel(2.0),
    levrf.MaternKernel(nu=2.5, bandwidth=1.5),
    levrf.ArcCosineKernel(order=0),
    levrf.ReLUNTK(),
    levrf.DeepReLUNTK(depth=3),
    user_kernel(),
]
ESTIMATORS = [
    levrf.RandomFeatures, levrf.KernelRidge, levrf.RandomFeatureRidge, levrf.RandomFeatureRidgeCV,
    levrf.KernelRidgeClassifier, levrf.RandomFeatureRidgeClassifier,
    levrf.Nystroem, levrf.NystromRidge, levrf.NystromRidgeCV, levrf.NystromRidgeClassifier,
]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
def test_kernel_params_are_constructor_arguments(kernel):
    params = kernel.get_params()
    rebuilt = type(kernel)(**params)
    assert rebuilt == kernel and rebuilt.get_params() == params
    copy = clone(kernel)
    assert copy == kernel and copy is not kernel
    with pytest.raises(ValueError, match="valid parameters are"):
        kernel.set_params(not_a_parameter=1)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
def test_clone_round_trips_every_estimator_with_every_kernel(estimator, kernel):
    est = estimator(kernel=kernel)
    copy = clone(est)
    assert copy.kernel == kernel and copy.kernel is not kernel
    assert copy.get_params(deep=True) == est.get_params(deep=True)


def test_set_params_revalidates_and_changes_the_kernel():
    k = levrf.GaussianKernel(1.0)
    assert k.set_params(bandwidth=3.0) is k and k.bandwidth == 3.0
    X = np.random.default_rng(0).standard_normal((5, 2))
    np.testing.assert_allclose(k(X).numpy(), levrf.GaussianKernel(3.0)(X).numpy(), rtol=0, atol=8 * np.finfo(float).eps)
    with pytest.raises(ValueError, match="bandwidth"):
        k.set_params(bandwidth=-1.0)
    est = levrf.RandomFeatureRidge(kernel=levrf.MaternKernel(nu=1.5, bandwidth=1.0))
    est.set_params(kernel__nu=2.5, kernel__bandwidth=2.0)
    assert est.kernel == levrf.MaternKernel(nu=2.5, bandwidth=2.0)


def test_to_moves_dtype_and_device_keeping_the_parameters():
    k = levrf.MaternKernel(nu=0.5, bandwidth=2.0)
    assert k.to() is k and k.to("float64", "cpu") is k
    moved = k.to("float32")
    assert moved.dtype == "float32" and moved.nu == 0.5 and moved.bandwidth == 2.0 and k.dtype == "float64"
    user = user_kernel().to("float32")
    X = torch.randn(4, 3, dtype=torch.float64)
    assert user.compute(X.float(), X.float()).dtype == torch.float32


def regression_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((240, 3))
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, 1] + 0.05 * rng.standard_normal(240)
    return X, y


SEARCHED = [
    (levrf.KernelRidge, dict(alpha=0.1)),
    (levrf.RandomFeatureRidge, dict(n_features=80, alpha=0.1, random_state=0)),
    (levrf.RandomFeatureRidgeCV, dict(n_features=80, alphas=(0.01, 0.1, 1.0), random_state=0)),
    (levrf.KernelRidgeClassifier, dict(alpha=0.1)),
    (levrf.RandomFeatureRidgeClassifier, dict(n_features=80, alpha=0.1, random_state=0)),
    (levrf.NystromRidge, dict(n_components=60, alpha=0.1, random_state=0)),
    (levrf.NystromRidgeCV, dict(n_components=60, alphas=(0.01, 0.1, 1.0), random_state=0)),
    (levrf.NystromRidgeClassifier, dict(n_components=60, alpha=0.1, random_state=0)),
]


@pytest.mark.parametrize(("estimator", "params"), SEARCHED, ids=lambda e: getattr(e, "__name__", ""))
def test_grid_search_over_kernel_bandwidth_matches_a_direct_loop(estimator, params):
    X, y = regression_data()
    if "Classifier" in estimator.__name__:
        y = (y > np.median(y)).astype(int)
    grid = [0.3, 1.0, 3.0]
    cv = KFold(3, shuffle=True, random_state=0)
    pipe = make_pipeline(StandardScaler(), estimator(kernel=levrf.GaussianKernel(1.0), **params))
    name = pipe.steps[-1][0]
    search = GridSearchCV(pipe, {f"{name}__kernel__bandwidth": grid}, cv=cv).fit(X, y)
    direct = [
        cross_val_score(make_pipeline(StandardScaler(), estimator(kernel=levrf.GaussianKernel(b), **params)),
                        X, y, cv=cv).mean()
        for b in grid
    ]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], direct, rtol=1e-12, atol=1e-12)
    assert search.best_params_[f"{name}__kernel__bandwidth"] == grid[int(np.argmax(direct))]
    # the searched kernel was not mutated: the refit best estimator holds its own copy
    assert pipe.steps[-1][1].kernel.bandwidth == 1.0


def test_grid_search_over_random_features_bandwidth_in_a_pipeline():
    X, y = regression_data()
    from sklearn.linear_model import Ridge

    pipe = make_pipeline(levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=60, random_state=1), Ridge(0.1))
    search = GridSearchCV(pipe, {"randomfeatures__kernel__bandwidth": [0.5, 2.0]}, cv=3).fit(X, y)
    assert search.best_estimator_.steps[0][1].kernel_.bandwidth == search.best_params_["randomfeatures__kernel__bandwidth"]
