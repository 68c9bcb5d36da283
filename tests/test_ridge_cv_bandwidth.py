"""RandomFeatureRidgeCV / NystromRidgeCV tune the bandwidth with α (issue 17, item 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import levrf
from levrf.ridge.cv import AUTO_BANDWIDTH_FACTORS

ALPHAS = (1e-3, 1e-2, 1e-1, 1.0)


@pytest.fixture
def data(rng):
    X = rng.standard_normal((300, 3)) * np.array([1.0, 2.0, 0.5])
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(300)
    return X, y


def _tol(*arrays) -> float:
    return 1e3 * torch.finfo(torch.float64).eps * max(float(np.abs(a).max()) for a in arrays)


@pytest.mark.parametrize(("make", "cv"), [
    (lambda kernel, **kw: levrf.RandomFeatureRidgeCV(kernel, alphas=ALPHAS, n_features=40, random_state=3, **kw), None),
    (lambda kernel, **kw: levrf.RandomFeatureRidgeCV(kernel, alphas=ALPHAS, n_features=40, random_state=3, **kw), 4),
    (lambda kernel, **kw: levrf.NystromRidgeCV(kernel, alphas=ALPHAS, n_components=40, random_state=3, **kw), None),
])
def test_chosen_pair_is_the_brute_force_best(data, make, cv):
    """The grid (0.5, 1, 2) × the median heuristic, scored by one fit per bandwidth with the
    bandwidth fixed (same seed): the same errors, the same chosen pair, the same model."""
    X, y = data
    tuned = make(levrf.GaussianKernel(), cv=cv).fit(X, y)
    median = levrf.GaussianKernel().resolve(X).bandwidth
    grid = [factor * median for factor in AUTO_BANDWIDTH_FACTORS]
    np.testing.assert_allclose(tuned.bandwidths_, grid, rtol=1e-15)
    brute = [make(levrf.GaussianKernel(b), cv=cv, bandwidths=None).fit(X, y) for b in grid]
    errors = np.stack([m.cv_mse_ for m in brute])
    np.testing.assert_allclose(tuned.cv_mse_grid_, errors, rtol=0, atol=_tol(errors))
    i, j = np.unravel_index(np.argmin(errors), errors.shape)
    assert tuned.bandwidth_ == grid[i] and tuned.alpha_ == ALPHAS[j]
    np.testing.assert_allclose(tuned.cv_mse_, errors[i], rtol=0, atol=_tol(errors))
    assert tuned.best_score_ == pytest.approx(-errors[i, j], rel=1e-12)
    np.testing.assert_allclose(tuned.predict(X), brute[i].predict(X), rtol=0, atol=_tol(brute[i].predict(X)))
    assert tuned.features_.kernel_.bandwidth == tuned.bandwidth_ == brute[i].bandwidth_


def test_explicit_grid_of_numbers(data):
    X, y = data
    grid = (0.7, 1.9, 4.0)
    tuned = levrf.RandomFeatureRidgeCV(levrf.LaplacianKernel(1.0), alphas=ALPHAS, n_features=30,
                                       bandwidths=grid).fit(X, y)
    brute = np.stack([levrf.RandomFeatureRidgeCV(levrf.LaplacianKernel(b), alphas=ALPHAS, n_features=30)
                      .fit(X, y).cv_mse_ for b in grid])
    np.testing.assert_allclose(tuned.cv_mse_grid_, brute, rtol=0, atol=_tol(brute))
    assert tuned.bandwidth_ == grid[int(np.argmin(brute.min(1)))]


def test_fixed_bandwidth_keeps_todays_fit(data):
    """A kernel with a number (bandwidths="auto") and bandwidths=None: one draw, exactly the fit
    of the kernel as it is."""
    X, y = data
    fixed = levrf.RandomFeatureRidgeCV(levrf.GaussianKernel(1.5), alphas=ALPHAS, n_features=30).fit(X, y)
    none = levrf.RandomFeatureRidgeCV(levrf.GaussianKernel(1.5), alphas=ALPHAS, n_features=30,
                                      bandwidths=None).fit(X, y)
    assert torch.equal(fixed.coef_, none.coef_) and np.array_equal(fixed.cv_mse_, none.cv_mse_)
    assert fixed.bandwidth_ == 1.5 and np.array_equal(fixed.bandwidths_, [1.5])
    assert np.array_equal(fixed.cv_mse_grid_, fixed.cv_mse_[None, :])
    # the same draws as the plain ridge at the chosen α
    plain = levrf.RandomFeatureRidge(levrf.GaussianKernel(1.5), alpha=fixed.alpha_, n_features=30).fit(X, y)
    np.testing.assert_allclose(fixed.predict(X), plain.predict(X), rtol=0, atol=1e-8)
    # an "auto" kernel with bandwidths=None: resolved once, not tuned
    auto = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, n_features=30, bandwidths=None).fit(X, y)
    assert auto.bandwidths_.shape == (1,) and auto.bandwidth_ == levrf.GaussianKernel().resolve(X).bandwidth


def test_kernels_without_bandwidth(data):
    X, y = data
    model = levrf.RandomFeatureRidgeCV(levrf.ReLUNTK(), alphas=ALPHAS, n_features=10).fit(X, y)
    assert model.bandwidth_ is None and model.bandwidths_ is None and model.cv_mse_grid_.shape == (1, 4)
    with pytest.raises(ValueError, match="bandwidths=.*needs a kernel with a bandwidth"):
        levrf.RandomFeatureRidgeCV(levrf.ReLUNTK(), bandwidths=(1.0, 2.0)).fit(X, y)


@pytest.mark.parametrize(("value", "error"), [
    ("wide", ValueError), ((), ValueError), ((1.0, -2.0), ValueError), ((1.0, float("nan")), ValueError),
    (("a",), TypeError), (True, TypeError),
])
def test_bad_bandwidths_are_refused_by_name(data, value, error):
    X, y = data
    with pytest.raises(error, match="bandwidths"):
        levrf.RandomFeatureRidgeCV(bandwidths=value).fit(X, y)


def test_generator_seed_is_drawn_once(data):
    """A numpy Generator gives one seed per fit: every bandwidth gets the same draws."""
    X, y = data
    tuned = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, n_features=20, random_state=np.random.default_rng(5)).fit(X, y)
    seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
    again = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, n_features=20, random_state=seed).fit(X, y)
    np.testing.assert_allclose(tuned.cv_mse_grid_, again.cv_mse_grid_, rtol=0, atol=_tol(again.cv_mse_grid_))


def test_tuned_model_saves_and_loads(data, tmp_path):
    from levrf.persistence import load, save

    X, y = data
    model = levrf.RandomFeatureRidgeCV(alphas=ALPHAS, n_features=20).fit(X, y)
    back = load(save(model, tmp_path / "cv.levrf"))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    assert back.bandwidth_ == model.bandwidth_ and np.array_equal(back.cv_mse_grid_, model.cv_mse_grid_)
