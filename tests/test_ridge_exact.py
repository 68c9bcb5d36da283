"""Exact kernel ridge regression and classification against scikit-learn and direct solves."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge as SklearnKernelRidge

import levrf
from levrf.ridge import JitterWarning

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def diabetes():
    return levrf.datasets.load("diabetes")


@pytest.mark.parametrize(("sigma", "alpha"), [(1.0, 0.1), (3.0, 1e-3), (0.5, 1.0)])
def test_gaussian_krr_equals_sklearn_rbf(diabetes, sigma, alpha):
    X, y = diabetes
    ours = levrf.KernelRidge(levrf.GaussianKernel(sigma), fit_intercept=False, alpha=alpha).fit(X[:300], y[:300])
    ref = SklearnKernelRidge(kernel="rbf", gamma=1 / (2 * sigma**2), alpha=alpha).fit(X[:300], y[:300])
    np.testing.assert_allclose(ours.predict(X[300:]), ref.predict(X[300:]), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.dual_coef_[:, 0].numpy(), ref.dual_coef_, rtol=1e-8, atol=1e-8)


def test_multi_output_and_chunked_prediction(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, y**2, -y])
    kernel = levrf.LaplacianKernel(2.0)
    multi = levrf.KernelRidge(kernel, alpha=0.3, batch_size=17, fit_intercept=False).fit(X, Y)
    pred = multi.predict(X[:50])
    assert pred.shape == (50, 3)
    for j in range(3):
        single = levrf.KernelRidge(kernel, alpha=0.3, fit_intercept=False).fit(X, Y[:, j])
        np.testing.assert_allclose(pred[:, j], single.predict(X[:50]), rtol=1e-10, atol=1e-10)
    # direct formula K(Z, X) (K + αI)⁻¹ Y
    K = kernel(X).numpy()
    direct = kernel(X[:50], X).numpy() @ np.linalg.solve(K + 0.3 * np.eye(len(X)), Y)
    np.testing.assert_allclose(pred, direct, rtol=1e-9, atol=1e-9)


def test_closed_form_only_kernel(diabetes):
    X, y = diabetes
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    kernel = levrf.DeepReLUNTK(depth=3)
    model = levrf.KernelRidge(kernel, alpha=0.5, fit_intercept=False).fit(X[:200], y[:200])
    K = kernel(X[:200]).numpy()
    direct = kernel(X[200:], X[:200]).numpy() @ np.linalg.solve(K + 0.5 * np.eye(200), y[:200])
    np.testing.assert_allclose(model.predict(X[200:]), direct, rtol=1e-9, atol=1e-9)


def test_numerically_singular_system_uses_jitter():
    # 20 identical rows: K is the all-ones matrix, K + αI is singular to rounding for tiny α
    X = np.ones((20, 2))
    y = np.ones(20)
    with pytest.warns(JitterWarning):
        model = levrf.KernelRidge(alpha=1e-300).fit(X, y)
    assert model.jitter_ > 0
    # with K = 11ᵀ the fit interpolates a constant: predictions ≈ 1
    np.testing.assert_allclose(model.predict(X[:3]), 1.0, rtol=1e-6)


def test_float32_close_to_float64(diabetes):
    X, y = diabetes
    p64 = levrf.KernelRidge(levrf.GaussianKernel(2.0), alpha=1.0).fit(X, y).predict(X[:40])
    m32 = levrf.KernelRidge(levrf.GaussianKernel(2.0), alpha=1.0, dtype="float32").fit(X, y)
    p32 = m32.predict(X[:40])
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, rtol=0, atol=1e-4)


def test_dataframe_feature_names(diabetes):
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    model = levrf.KernelRidge().fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        plain = model.predict(X[:5])
    # frame[:5] becomes a new array at its own alignment, where BLAS may round differently
    tol = 64 * np.finfo(np.float64).eps * float(np.abs(plain).max())
    np.testing.assert_allclose(model.predict(frame[:5]), plain, rtol=0, atol=tol)


def test_classifier_is_regression_on_signed_one_hot(diabetes):
    X, y = diabetes
    labels = np.array(["low", "mid", "high"])[np.digitize(y, [-0.5, 0.5])]
    kernel = levrf.GaussianKernel(2.0)
    clf = levrf.KernelRidgeClassifier(kernel, alpha=0.5).fit(X, labels)
    assert list(clf.classes_) == ["high", "low", "mid"]
    onehot = np.where(labels[:, None] == clf.classes_[None, :], 1.0, -1.0)
    scores = levrf.KernelRidge(kernel, alpha=0.5).fit(X, onehot).predict(X)
    np.testing.assert_allclose(clf.decision_function(X), scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(1)])


def test_binary_classifier_uses_one_signed_column(diabetes):
    X, y = diabetes
    labels = (y > 0).astype(int)
    clf = levrf.KernelRidgeClassifier(levrf.GaussianKernel(2.0), alpha=0.5).fit(X, labels)
    score = levrf.KernelRidge(levrf.GaussianKernel(2.0), alpha=0.5).fit(X, 2.0 * labels - 1).predict(X)
    np.testing.assert_allclose(clf.decision_function(X), score, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), (score > 0).astype(int))
    with pytest.raises(ValueError, match="at least 2 classes"):
        levrf.KernelRidgeClassifier().fit(X, np.zeros(len(X)))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": "1"}, TypeError, "alpha"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"dtype": "int8"}, ValueError, "dtype"),
        ({"kernel": "rbf"}, TypeError, "kernel"),
    ],
)
def test_bad_parameters_raise_at_fit(params, error, match):
    with pytest.raises(error, match=match):
        levrf.KernelRidge(**params).fit(np.ones((3, 2)), np.ones(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(diabetes):
    X, y = diabetes
    cpu = levrf.KernelRidge(levrf.GaussianKernel(2.0), alpha=0.1).fit(X, y).predict(X)
    gpu = levrf.KernelRidge(levrf.GaussianKernel(2.0), alpha=0.1, device="cuda").fit(X, y).predict(X)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-9)
