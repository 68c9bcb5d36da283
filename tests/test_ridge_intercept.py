"""fit_intercept=True (the default) on every ridge estimator: against scikit-learn's Ridge on the
materialised features, the KKT system of exact KRR, and brute-force leave-one-out refits."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeClassifier

import levrf

KERNEL = levrf.GaussianKernel(1.5)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = 100.0 + np.sin(X[:, 0]) + 0.1 * rng.standard_normal(300)  # far from zero mean
    return X, y


def test_random_feature_ridge_equals_sklearn_ridge_with_intercept(data):
    X, y = data
    Y = np.column_stack([y, -3 * y + 7])
    for target in (y, Y):
        model = levrf.RandomFeatureRidge(KERNEL, n_features=40, alpha=0.3, random_state=0).fit(X, target)
        Psi = model.features_.transform(X)
        ref = Ridge(alpha=0.3, fit_intercept=True, solver="cholesky").fit(Psi, target)
        coef = model.coef_.numpy()
        np.testing.assert_allclose(coef[:, 0] if target.ndim == 1 else coef.T, ref.coef_, rtol=0, atol=1e-8)
        np.testing.assert_allclose(model.intercept_.numpy(), np.atleast_1d(ref.intercept_), rtol=0, atol=1e-8)
        np.testing.assert_allclose(model.predict(X[:50]), ref.predict(Psi[:50]), rtol=0, atol=1e-8)


def test_a_shifted_target_shifts_the_predictions(data):
    """The defect of issue 17: without an intercept a target shifted by 100 was fitted badly."""
    X, y = data
    for cls, kw in ((levrf.RandomFeatureRidge, {"n_features": 40, "random_state": 0}), (levrf.KernelRidge, {})):
        base = cls(KERNEL, alpha=0.3, **kw).fit(X, y - 100.0)
        shifted = cls(KERNEL, alpha=0.3, **kw).fit(X, y)
        tol = 1e-9 * 100
        np.testing.assert_allclose(shifted.predict(X[:40]), base.predict(X[:40]) + 100.0, rtol=0, atol=tol)
        assert shifted.score(X, y) > 0.9


def test_float32_gram_with_intercept_is_refined_to_the_float64_solution(data):
    X, y = data
    kw = dict(kernel=KERNEL, n_features=60, alpha=0.1, random_state=2)
    ref = levrf.RandomFeatureRidge(**kw).fit(X, y)
    mixed = levrf.RandomFeatureRidge(gram_dtype="float32", refine_tol=1e-11, **kw).fit(X, y)
    assert mixed.refine_residuals_ and mixed.refine_residuals_[-1] <= 1e-11
    rel = float((mixed.coef_ - ref.coef_).norm() / ref.coef_.norm())
    assert rel < 1e-8
    np.testing.assert_allclose(mixed.intercept_.numpy(), ref.intercept_.numpy(), rtol=1e-8)


def test_classifier_intercept_equals_sklearn_ridge_classifier(data):
    X, y = data
    labels = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])  # three classes
    model = levrf.RandomFeatureRidgeClassifier(KERNEL, n_features=40, alpha=0.5, random_state=0).fit(X, labels)
    Psi = model.features_.transform(X)
    ref = RidgeClassifier(alpha=0.5, fit_intercept=True, solver="cholesky").fit(Psi, labels)
    np.testing.assert_allclose(model.coef_.numpy().T, ref.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.intercept_.numpy(), ref.intercept_, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(model.predict(X), ref.predict(Psi))


@pytest.mark.parametrize("cls", [levrf.KernelRidge, levrf.KernelRidgeClassifier])
def test_exact_krr_intercept_solves_the_kkt_system(cls, data):
    """min ‖y − KA − b‖² + α AᵀKA: (K + αI)A + b1 = y and 1ᵀA = 0, solved densely."""
    X, y = data
    X, y = X[:120], y[:120]
    target = y if cls is levrf.KernelRidge else (y > np.median(y)).astype(int)
    model = cls(KERNEL, alpha=0.2).fit(X, target)
    K = KERNEL(X).numpy()
    n = len(X)
    kkt = np.block([[K + 0.2 * np.eye(n), np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    t = target if cls is levrf.KernelRidge else 2.0 * target - 1.0
    sol = np.linalg.solve(kkt, np.concatenate([t, [0.0]]))
    np.testing.assert_allclose(model.dual_coef_.numpy()[:, 0], sol[:n], rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.intercept_.numpy(), [sol[n]], rtol=0, atol=1e-8)


@pytest.mark.parametrize("cls", [levrf.RandomFeatureRidge, levrf.KernelRidge, levrf.RandomFeatureRidgeCV])
def test_without_intercept_the_intercept_is_zero(cls, data):
    X, y = data
    model = cls(KERNEL, fit_intercept=False).fit(X[:60], y[:60])
    assert torch.equal(model.intercept_, torch.zeros(1, dtype=torch.float64))


ALPHAS = (1e-3, 0.1, 1.0, 10.0)


def brute_force_loo(Psi, y, alpha):
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        ref = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(Psi[keep], y[keep])
        errors.append((y[i] - ref.predict(Psi[i : i + 1])[0]) ** 2)
    return np.array(errors)


def test_loo_with_intercept_equals_brute_force_refits(data):
    X, y = data
    X, y = X[:40], y[:40]
    cv = levrf.RandomFeatureRidgeCV(KERNEL, alphas=ALPHAS, n_features=15, store_cv_results=True,
                                    random_state=0).fit(X, y)
    Psi = cv.features_.transform(X)
    for j, alpha in enumerate(ALPHAS):
        np.testing.assert_allclose(cv.cv_results_[:, j], brute_force_loo(Psi, y, alpha), rtol=1e-8, atol=1e-12)
    best = ALPHAS[int(np.argmin(cv.cv_mse_))]
    ref = Ridge(alpha=best, fit_intercept=True, solver="cholesky").fit(Psi, y)
    np.testing.assert_allclose(cv.intercept_.numpy(), [ref.intercept_], rtol=0, atol=1e-8)


def test_gcv_with_intercept_equals_its_definition(data):
    X, y = data
    X, y = X[:50], y[:50]
    cv = levrf.RandomFeatureRidgeCV(KERNEL, alphas=ALPHAS, n_features=15, gcv=True, random_state=0).fit(X, y)
    Z = np.column_stack([np.ones(len(y)), cv.features_.transform(X)])  # the intercept: an unpenalized column
    for j, alpha in enumerate(ALPHAS):
        P = alpha * np.eye(Z.shape[1])
        P[0, 0] = 0.0
        H = Z @ np.linalg.solve(Z.T @ Z + P, Z.T)
        expected = np.mean(((y - H @ y) / (1 - np.trace(H) / len(y))) ** 2)
        assert cv.cv_mse_[j] == pytest.approx(expected, rel=1e-8)


def test_k_fold_with_intercept_equals_brute_force_refits(data):
    from sklearn.model_selection import KFold

    X, y = data
    X, y = X[:60], y[:60]
    cv = levrf.RandomFeatureRidgeCV(KERNEL, alphas=ALPHAS, n_features=15, cv=KFold(4, shuffle=True, random_state=1),
                                    random_state=0).fit(X, y)
    Psi = cv.features_.transform(X)
    for j, alpha in enumerate(ALPHAS):
        sq = []
        for train, test in KFold(4, shuffle=True, random_state=1).split(X):
            ref = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(Psi[train], y[train])
            sq.append((y[test] - ref.predict(Psi[test])) ** 2)
        assert cv.cv_mse_[j] == pytest.approx(np.concatenate(sq).mean(), rel=1e-8)
