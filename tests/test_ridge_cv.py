"""RandomFeatureRidgeCV: closed-form LOO / GCV / K-fold against brute-force refits."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, ShuffleSplit

import levrf

torch.set_num_threads(1)

ALPHAS = (1e-3, 0.03, 1.0, 30.0)
KW = dict(kernel=levrf.GaussianKernel(1.5), n_features=8, random_state=5)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((25, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * rng.standard_normal(25)
    return X, y


def test_loo_equals_brute_force_refits(small):
    X, y = small
    cv = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, store_cv_results=True, **KW).fit(X, y)
    # brute force: refit the estimator n times per α without row i (the Gaussian sampler's
    # weights depend only on the seed, so every refit has the same features)
    brute = np.empty((len(X), len(ALPHAS)))
    for j, alpha in enumerate(ALPHAS):
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            model = levrf.RandomFeatureRidge(alpha=alpha, **KW).fit(X[keep], y[keep])
            torch.testing.assert_close(model.features_.weights_, cv.features_.weights_, rtol=0, atol=0)
            brute[i, j] = (y[i] - model.predict(X[i : i + 1])[0]) ** 2
    np.testing.assert_allclose(cv.cv_results_, brute, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(cv.cv_mse_, brute.mean(0), rtol=1e-8, atol=1e-8)
    best = int(np.argmin(brute.mean(0)))
    assert cv.alpha_ == ALPHAS[best]
    assert cv.best_score_ == pytest.approx(-brute.mean(0)[best], rel=1e-8)
    refit = levrf.RandomFeatureRidge(alpha=cv.alpha_, **KW).fit(X, y)
    np.testing.assert_allclose(cv.coef_.numpy(), refit.coef_.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cv.predict(X), refit.predict(X), rtol=1e-8, atol=1e-10)


def test_loo_matches_sklearn_ridgecv_multi_output(small):
    X, y = small
    Y = np.column_stack([y, np.cos(X[:, 2])])
    cv = levrf.RandomFeatureRidgeCV(fit_intercept=False, alphas=ALPHAS, store_cv_results=True, **KW).fit(X, Y)
    Psi = cv.features_.transform(X)
    ref = RidgeCV(alphas=ALPHAS, fit_intercept=False, store_cv_results=True).fit(Psi, Y)
    assert cv.cv_results_.shape == (25, 2, len(ALPHAS))
    np.testing.assert_allclose(cv.cv_results_, ref.cv_results_, rtol=1e-8, atol=1e-10)
    assert cv.alpha_ == ref.alpha_
    assert cv.best_score_ == pytest.approx(ref.best_score_, rel=1e-8)
    np.testing.assert_allclose(cv.predict(X), ref.predict(Psi), rtol=1e-8, atol=1e-10)


def test_gcv_equals_its_definition(small):
    X, y = small
    cv = levrf.RandomFeatureRidgeCV(fit_intercept=False, alphas=ALPHAS, gcv=True, store_cv_results=True, **KW).fit(X, y)
    Psi = cv.features_.transform(X)
    n, D = Psi.shape
    expected = []
    for alpha in ALPHAS:
        H = Psi @ np.linalg.solve(Psi.T @ Psi + alpha * np.eye(D), Psi.T)
        expected.append(np.mean((y - H @ y) ** 2) / (1 - np.trace(H) / n) ** 2)
    np.testing.assert_allclose(cv.cv_mse_, expected, rtol=1e-8)
    assert cv.alpha_ == ALPHAS[int(np.argmin(expected))]


@pytest.mark.parametrize(
    "splitter", [KFold(4), KFold(5, shuffle=True, random_state=0), ShuffleSplit(3, test_size=5, train_size=12, random_state=0)]
)
def test_k_fold_equals_brute_force_refits(small, splitter):
    X, y = small
    cv = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, cv=splitter, **KW).fit(X, y)
    sq, count = np.zeros(len(ALPHAS)), 0
    for train, test in splitter.split(X, y):
        for j, alpha in enumerate(ALPHAS):
            model = levrf.RandomFeatureRidge(alpha=alpha, **KW).fit(X[train], y[train])
            sq[j] += ((y[test] - model.predict(X[test])) ** 2).sum()
        count += len(test)
    np.testing.assert_allclose(cv.cv_mse_, sq / count, rtol=1e-8, atol=1e-10)
    assert cv.alpha_ == ALPHAS[int(np.argmin(sq))]


def test_integer_cv_is_k_fold(small):
    X, y = small
    a = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, cv=5, **KW).fit(X, y)
    b = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, cv=KFold(5), **KW).fit(X, y)
    np.testing.assert_allclose(a.cv_mse_, b.cv_mse_, rtol=1e-12)


def test_streaming_chunks_do_not_change_loo(small):
    X, y = small
    whole = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, store_cv_results=True, **KW).fit(X, y)
    chunked = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, store_cv_results=True, batch_size=4, **KW).fit(X, y)
    np.testing.assert_allclose(chunked.cv_results_, whole.cv_results_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"alphas": ()}, ValueError, "non-empty"),
        ({"alphas": (1.0, -1.0)}, ValueError, "> 0"),
        ({"alphas": (1.0, np.nan)}, ValueError, "finite"),
        ({"alphas": "1"}, TypeError, "alphas"),
        ({"alphas": [[1.0, 2.0]]}, ValueError, "1-D"),
        ({"cv": 1}, ValueError, "cv"),
        ({"cv": 3, "gcv": True}, ValueError, "cv=None"),
        ({"cv": 3, "store_cv_results": True}, ValueError, "cv=None"),
        ({"gcv": "yes"}, TypeError, "gcv"),
    ],
)
def test_bad_parameters_raise_at_fit(params, error, match):
    with pytest.raises(error, match=match):
        levrf.RandomFeatureRidgeCV(**params).fit(np.ones((6, 2)), np.arange(6.0))


def test_features_are_drawn_for_the_smallest_alpha(small):
    X, y = small
    cv = levrf.RandomFeatureRidgeCV(alphas=(3.0, 0.2, 1.0), **KW).fit(X, y)
    assert cv.features_.alpha == 0.2
    assert cv.features_.sampling_alpha == "auto"
