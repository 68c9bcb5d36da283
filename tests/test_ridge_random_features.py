"""Random-feature ridge regression/classification: closed forms, sklearn, streaming, samplers."""

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import levrf
from levrf.leverage.samplers import SAMPLERS, Sampler, WeightSample

torch.set_num_threads(1)


def identity_kernel():
    """φ(x, w) = x for a single dummy weight: Ψ = m^{-1/2} [X, …, X]."""
    return levrf.FunctionKernel(
        sample=lambda m, d, g: torch.zeros(m, 1, dtype=torch.float64),
        features=lambda X, W: X[:, None, :].expand(-1, W.shape[0], -1),
        exact=lambda X, Z: X @ Z.T,
    )


@pytest.fixture(scope="module")
def diabetes():
    return levrf.datasets.load("diabetes")


@pytest.mark.parametrize("alpha", [1e-3, 0.5, 20.0])
def test_identity_features_equal_sklearn_ridge(diabetes, alpha):
    X, y = diabetes
    ours = levrf.RandomFeatureRidge(identity_kernel(), fit_intercept=False, n_features=1, alpha=alpha).fit(X, y)
    ref = Ridge(alpha=alpha, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(ours.coef_[:, 0].numpy(), ref.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-8)
    # m copies scaled by m^{-1/2} give the same Gram ΨΨᵀ = XXᵀ, hence the same predictions
    three = levrf.RandomFeatureRidge(identity_kernel(), fit_intercept=False, n_features=3, alpha=alpha).fit(X, y)
    np.testing.assert_allclose(three.predict(X), ref.predict(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(three.coef_.numpy().reshape(3, -1), np.tile(ref.coef_ / math.sqrt(3), (3, 1)), atol=1e-8)


def test_identity_features_multi_output(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, np.sin(y)])
    ours = levrf.RandomFeatureRidge(identity_kernel(), fit_intercept=False, n_features=1, alpha=2.0).fit(X, Y)
    ref = Ridge(alpha=2.0, fit_intercept=False).fit(X, Y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-8)


def test_streaming_batch_size_does_not_change_beta():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 5))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(5000)
    kw = dict(kernel=levrf.GaussianKernel(2.0), n_features=60, alpha=0.1, random_state=3)
    small = levrf.RandomFeatureRidge(fit_intercept=False, batch_size=1000, **kw).fit(X, y)
    whole = levrf.RandomFeatureRidge(fit_intercept=False, batch_size=5000, **kw).fit(X, y)
    odd = levrf.RandomFeatureRidge(fit_intercept=False, batch_size=777, **kw).fit(X, y)
    np.testing.assert_allclose(small.coef_.numpy(), whole.coef_.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(odd.coef_.numpy(), whole.coef_.numpy(), rtol=0, atol=1e-10)
    # and both equal the dense normal equations on the materialised Ψ
    Psi = whole.features_.transform(X)
    beta = np.linalg.solve(Psi.T @ Psi + 0.1 * np.eye(Psi.shape[1]), Psi.T @ y)
    np.testing.assert_allclose(whole.coef_[:, 0].numpy(), beta, rtol=0, atol=1e-10)
    np.testing.assert_allclose(small.predict(X[:100]), Psi[:100] @ beta, rtol=0, atol=1e-10)


class _HalfImportanceSampler(Sampler):
    """A sampler with non-trivial importance weights: weights from p, importance r/m."""

    name = "test-ramp"

    def draw(self, kernel, X, m, generator):
        W = kernel.sample(m, X.shape[1], generator)
        imp = torch.arange(1, m + 1, dtype=W.dtype, device=W.device) / m
        return WeightSample(W, imp, leverage=None, info={"ramp": True})


def test_any_registered_sampler_plugs_in(monkeypatch, diabetes):
    X, y = diabetes
    monkeypatch.setitem(SAMPLERS, "test-ramp", _HalfImportanceSampler)
    kernel = levrf.GaussianKernel(2.0)
    model = levrf.RandomFeatureRidge(kernel, fit_intercept=False, n_features=30, sampling="test-ramp", alpha=0.2).fit(X, y)
    assert model.features_.sampling_info_ == {"ramp": True}
    W = model.features_.weights_
    imp = torch.arange(1, 31, dtype=torch.float64) / 30
    # ψ(x) = m^{-1/2} [imp_r (cos w_rᵀx, sin w_rᵀx)]_r, written out by hand
    proj = torch.from_numpy(X) @ W.T
    Psi = (torch.stack([torch.cos(proj), torch.sin(proj)], -1) * (imp / math.sqrt(30))[None, :, None]).reshape(len(X), -1)
    Psi = Psi.numpy()
    beta = np.linalg.solve(Psi.T @ Psi + 0.2 * np.eye(60), Psi.T @ y)
    np.testing.assert_allclose(model.coef_[:, 0].numpy(), beta, rtol=0, atol=1e-10)


#: samplers defined only for some kernels (the rest are tried with a Gaussian kernel)
_SAMPLER_KERNEL = {"surrogate": levrf.ReLUNTK}


@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - {"gaussian"}))
def test_library_samplers_through_the_estimator(name, diabetes):
    X, y = diabetes
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    kernel = _SAMPLER_KERNEL.get(name, lambda: levrf.GaussianKernel(1.0))()
    model = levrf.RandomFeatureRidge(kernel, fit_intercept=False, n_features=20, sampling=name, alpha=0.5)
    model.fit(X[:200], y[:200])
    Psi = model.features_.transform(X[:200])
    beta = np.linalg.solve(Psi.T @ Psi + 0.5 * np.eye(Psi.shape[1]), Psi.T @ y[:200])
    np.testing.assert_allclose(model.coef_[:, 0].numpy(), beta, rtol=1e-9, atol=1e-9)


def test_classifier_with_identity_features_equals_sklearn(diabetes):
    X, y = diabetes
    labels = np.digitize(y, [-0.5, 0.5])
    ours = levrf.RandomFeatureRidgeClassifier(identity_kernel(), fit_intercept=False, n_features=1, alpha=3.0).fit(X, labels)
    ref = RidgeClassifier(alpha=3.0, fit_intercept=False).fit(X, labels)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    binary = y > 0
    ours2 = levrf.RandomFeatureRidgeClassifier(identity_kernel(), fit_intercept=False, n_features=1, alpha=3.0).fit(X, binary)
    ref2 = RidgeClassifier(alpha=3.0, fit_intercept=False).fit(X, binary)
    np.testing.assert_allclose(ours2.decision_function(X), ref2.decision_function(X), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(ours2.predict(X), ref2.predict(X))


def test_pipeline_and_grid_search_with_kernel_objects(diabetes):
    X, y = diabetes
    X = X * 3 + 1  # unstandardized, so that the scaler matters
    pipe = make_pipeline(StandardScaler(), levrf.RandomFeatureRidge(n_features=20, random_state=1))
    grid = {"randomfeatureridge__alpha": [0.1, 1.0], "randomfeatureridge__kernel": [levrf.GaussianKernel(1.0), levrf.GaussianKernel(4.0)]}
    search = GridSearchCV(pipe, grid, cv=KFold(3), scoring="neg_mean_squared_error").fit(X, y)
    best = search.best_params_
    manual = cross_val_score(clone(pipe).set_params(**best), X, y, cv=KFold(3), scoring="neg_mean_squared_error")
    assert search.best_score_ == pytest.approx(manual.mean(), rel=1e-12)
    for params in search.cv_results_["params"]:
        score = cross_val_score(clone(pipe).set_params(**params), X, y, cv=KFold(3), scoring="neg_mean_squared_error")
        assert score.mean() <= search.best_score_ + 1e-12
    scaled = StandardScaler().fit_transform(X)
    direct = levrf.RandomFeatureRidge(n_features=20, random_state=1).set_params(
        alpha=best["randomfeatureridge__alpha"], kernel=best["randomfeatureridge__kernel"]
    )
    np.testing.assert_allclose(search.predict(X), direct.fit(scaled, y).predict(scaled), rtol=1e-12, atol=1e-12)


def test_same_seed_same_model_and_pickle(diabetes):
    X, y = diabetes
    a = levrf.RandomFeatureRidge(n_features=25, random_state=7).fit(X, y)
    b = levrf.RandomFeatureRidge(n_features=25, random_state=7).fit(X, y)
    c = levrf.RandomFeatureRidge(n_features=25, random_state=8).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert np.abs(a.predict(X) - c.predict(X)).max() > 1e-6
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict(X), a.predict(X))


def test_float32_close_to_float64(diabetes):
    X, y = diabetes
    kw = dict(kernel=levrf.GaussianKernel(2.0), n_features=50, alpha=1.0)
    p64 = levrf.RandomFeatureRidge(**kw).fit(X, y).predict(X)
    p32 = levrf.RandomFeatureRidge(dtype="float32", **kw).fit(X, y).predict(X)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, rtol=0, atol=1e-4)


def test_dataframe_input_sets_feature_names(diabetes):
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = levrf.RandomFeatureRidge(n_features=10).fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    assert model.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[frame.columns[::-1]])


def test_inputs_too_large_for_float32_raise_instead_of_nan():
    X = np.full((5, 2), 1e39)  # finite in float64, inf in float32
    with pytest.raises(ValueError, match="not finite"):
        levrf.RandomFeatureRidge(n_features=5, dtype="float32").fit(X, np.ones(5))
    model = levrf.RandomFeatureRidge(n_features=5, dtype="float32").fit(np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="not finite"):
        model.predict(X)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"n_features": 0}, ValueError, "n_features"),
        ({"n_features": 2.5}, TypeError, "n_features"),
        ({"sampling": "nope"}, ValueError, "sampling"),
        ({"device": "tpu9"}, ValueError, "device"),
        ({"kernel": levrf.DeepReLUNTK()}, ValueError, "no random features"),
    ],
)
def test_bad_parameters_raise_at_fit(params, error, match):
    with pytest.raises(error, match=match):
        levrf.RandomFeatureRidge(**params).fit(np.ones((4, 2)), np.ones(4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(diabetes):
    X, y = diabetes
    kw = dict(kernel=levrf.GaussianKernel(2.0), n_features=64, alpha=0.1, batch_size=100)
    cpu = levrf.RandomFeatureRidge(**kw).fit(X, y)
    gpu = levrf.RandomFeatureRidge(device="cuda", **kw).fit(X, y)
    assert gpu.coef_.device.type == "cuda"
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-9, atol=1e-9)
    clf = levrf.RandomFeatureRidgeClassifier(device="cuda", **kw).fit(X, y > 0)
    np.testing.assert_array_equal(clf.predict(X), levrf.RandomFeatureRidgeClassifier(**kw).fit(X, y > 0).predict(X))


@pytest.mark.parametrize("alpha", [1e-1, 1e-3])
def test_float32_gram_with_refinement_equals_float64_fit(alpha):
    # float32 Gram + float64 iterative refinement: same β as the all-float64 fit, to the accuracy
    # of the float64 solve itself (condition number ~ ‖ΨᵀΨ‖/α ≤ 1e7 here)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4000, 5))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(4000)
    kw = dict(kernel=levrf.GaussianKernel(1.0), n_features=300, alpha=alpha, random_state=2, batch_size=1000)
    ref = levrf.RandomFeatureRidge(**kw).fit(X, y)
    mixed = levrf.RandomFeatureRidge(gram_dtype="float32", refine_tol=1e-11, **kw).fit(X, y)
    assert mixed.coef_.dtype == torch.float64 and ref.refine_residuals_ == []
    res = mixed.refine_residuals_
    assert 2 <= len(res) <= 4 and all(b < 0.01 * a for a, b in zip(res, res[1:], strict=False))
    # the first residual is float32 rounding (> float64's); refinement stops at the first ≤ tol
    assert res[0] > 1e-9 and res[-1] <= 1e-11 < min(res[:-1])
    rel = float((mixed.coef_ - ref.coef_).norm() / ref.coef_.norm())
    assert rel < 1e-8
    np.testing.assert_allclose(mixed.predict(X[:200]), ref.predict(X[:200]), rtol=0, atol=1e-10)
    # the default refine_tol=1e-5: one pass here; β within 1e-5, predictions within 1e-7
    default = levrf.RandomFeatureRidge(gram_dtype="float32", **kw).fit(X, y)
    assert len(default.refine_residuals_) == 1 and default.refine_residuals_[0] <= 1e-5
    assert float((default.coef_ - ref.coef_).norm() / ref.coef_.norm()) < 1e-5
    np.testing.assert_allclose(default.predict(X[:200]), ref.predict(X[:200]), rtol=0, atol=1e-7)
    # without refinement the float32 Gram alone is visibly off: refinement does the work
    L, _ = levrf.ridge.solvers.ridge_factor(
        levrf.ridge.random_features.accumulate_normal_equations(
            mixed.features_, torch.from_numpy(X), torch.from_numpy(y[:, None]), gram_dtype=torch.float32
        ).gram(),
        alpha,
    )
    unrefined = torch.cholesky_solve(torch.from_numpy(mixed.features_.transform(X).T @ y[:, None]), L)
    assert float((unrefined - ref.coef_).norm() / ref.coef_.norm()) > 100 * rel


def test_float32_gram_falls_back_to_float64_when_refinement_stalls():
    # refinement that cannot reach refine_tol (a tolerance below any attainable residual: whether
    # a given small alpha stalls depends on the BLAS's float32 rounding, i.e. on the CPU) warns
    # and recomputes PsiᵀPsi in float64, so β is the float64 one
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 5))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(3000)
    kw = dict(kernel=levrf.GaussianKernel(1.0), n_features=300, alpha=1e-3, random_state=0, batch_size=1000,
              fit_intercept=False)
    ref = levrf.RandomFeatureRidge(**kw).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="refinement stalled.*recomputing it in float64"):
        mixed = levrf.RandomFeatureRidge(gram_dtype="float32", refine_tol=1e-300, **kw).fit(X, y)
    assert len(mixed.refine_residuals_) >= 2 and min(mixed.refine_residuals_) > 1e-300
    assert torch.equal(mixed.coef_, ref.coef_)


def test_float32_gram_falls_back_to_float64_when_not_positive_definite(monkeypatch):
    # where float32 rounding makes PsiᵀPsi + αI indefinite (CPU-dependent), the factorization of
    # the float32 Gram fails: simulated here for that factorization only, the fit warns and solves
    # with the float64 Gram
    from sklearn.exceptions import ConvergenceWarning

    import levrf.ridge.random_features as rf

    real = rf.ridge_factor

    def failing_for_float32(G, alpha, *, what="Psi^T Psi + alpha*I"):
        if "float32" in what:
            raise levrf.linalg.NotPositiveDefiniteError(f"{what} is not positive definite")
        return real(G, alpha, what=what)

    monkeypatch.setattr(rf, "ridge_factor", failing_for_float32)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 4))
    y = np.cos(X[:, 1])
    kw = dict(kernel=levrf.GaussianKernel(1.0), n_features=200, alpha=1e-2, random_state=0, fit_intercept=False)
    ref = levrf.RandomFeatureRidge(**kw).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="not positive definite.*recomputing it in float64"):
        mixed = levrf.RandomFeatureRidge(gram_dtype="float32", **kw).fit(X, y)
    assert torch.equal(mixed.coef_, ref.coef_)


def test_float64_gram_of_float32_features():
    # dtype float32 with gram_dtype float64: float32 features, products and solve in float64
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 3))
    y = np.cos(X[:, 1])
    kw = dict(kernel=levrf.GaussianKernel(1.5), n_features=40, alpha=1.0, random_state=1, dtype="float32",
              fit_intercept=False)
    model = levrf.RandomFeatureRidge(gram_dtype="float64", **kw).fit(X, y)
    assert model.coef_.dtype == torch.float32 and model.refine_residuals_ == []
    Psi = model.features_.transform(X).astype(np.float64)  # the float32 features, widened exactly
    beta = np.linalg.solve(Psi.T @ Psi + np.eye(Psi.shape[1]), Psi.T @ y.astype(np.float32))
    # Ψᵀy is float32 (dtype): error ~ eps32 · cond(ΨᵀΨ + I) ≈ 1e-7 · 300
    assert np.linalg.norm(model.coef_[:, 0].numpy() - beta) < 1e-4 * np.linalg.norm(beta)


@pytest.mark.parametrize(
    ("params", "match"),
    [({"gram_dtype": "float16"}, "gram_dtype"), ({"refine_tol": 0.0}, "refine_tol"), ({"refine_tol": "x"}, "refine_tol")],
)
def test_bad_mixed_precision_parameters(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        levrf.RandomFeatureRidge(**params).fit(np.ones((4, 2)), np.ones(4))
