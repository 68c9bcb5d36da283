"""The factored Gram Nᵀ(BᵀB)N of the Nyström direct solve: used only where provably accurate,
and then equal to the fit that forms Ψ."""

import numpy as np
import pytest
import torch

import levrf
import levrf.ridge.factored as factored_module
import levrf.ridge.random_features as rf
from levrf.ridge.factored import factored_gram_is_accurate
from levrf.rows import TensorRows


@pytest.fixture
def data():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((600, 3))
    return X, np.sin(X[:, 0]) + 0.1 * rng.standard_normal(600), rng.standard_normal((50, 3))


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_factored_fit_equals_the_fit_that_forms_psi(data, monkeypatch, fit_intercept):
    X, y, Xt = data
    make = lambda: levrf.NystromRidge(levrf.LaplacianKernel(1.0), n_components=80, alpha=1.0,  # noqa: E731
                                      random_state=0, fit_intercept=fit_intercept, solver="cholesky")
    monkeypatch.setattr(factored_module, "FACTORED_MIN_ROWS", 1)  # a small problem takes the path too
    used = []
    original = rf.factored_gram_is_accurate
    monkeypatch.setattr(rf, "factored_gram_is_accurate", lambda *a: used.append(original(*a)) or used[-1])
    factored = make().fit(X, y)
    assert used == [True] and len(factored.refine_residuals_) >= 1
    monkeypatch.setattr(rf, "factored_gram_is_accurate", lambda *a: False)
    formed = make().fit(X, y)
    assert formed.refine_residuals_ == []
    np.testing.assert_allclose(factored.predict(Xt), formed.predict(Xt), rtol=0, atol=1e-8)


def test_factored_gram_is_refused_for_an_ill_conditioned_map(data, monkeypatch):
    X, y, _ = data
    monkeypatch.setattr(factored_module, "FACTORED_MIN_ROWS", 1)
    f = levrf.Nystroem(levrf.GaussianKernel(5.0), n_components=100, random_state=0).fit(X)
    rows = TensorRows(torch.as_tensor(X), torch.as_tensor(y[:, None]))
    assert not factored_gram_is_accurate(f, rows, 1e-3, torch.float64)
    rf_map = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=20, random_state=0).fit(X)
    assert not factored_gram_is_accurate(rf_map, rows, 1.0, torch.float64)  # not a factored map
    well_conditioned = levrf.Nystroem(levrf.LaplacianKernel(1.0), n_components=80, random_state=0).fit(X)
    assert factored_gram_is_accurate(well_conditioned, rows, 1.0, torch.float64)
    monkeypatch.setattr(factored_module, "FACTORED_MIN_ROWS", 601)  # too few rows to pay
    assert not factored_gram_is_accurate(well_conditioned, rows, 1.0, torch.float64)
