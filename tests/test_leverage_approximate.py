"""Approximate ridge leverage (method="approximate"/"subsample", "nystrom", "pool_gram")."""

import math

import numpy as np
import pytest
import torch

import levrf
from levrf.leverage.approximate import NystromLeverage, SubsampleLeverage, pool_gram_leverage


@pytest.fixture
def X(rng):
    return rng.standard_normal((60, 3))


class NoSquareKernel(levrf.GaussianKernel):
    """A Gaussian kernel that refuses to build any matrix with n_max rows and n_max columns."""

    n_max = 60

    def _exact(self, A, B):
        if A.shape[0] >= self.n_max and B.shape[0] >= self.n_max:
            raise AssertionError(f"an {A.shape[0]} x {B.shape[0]} kernel matrix was formed")
        return super()._exact(A, B)


def test_subsample_with_all_rows_is_exact(X):
    k = levrf.GaussianKernel(1.0)
    W = k.sample(20, 3, 0)
    exact = levrf.ridge_leverage(k, X, W, 0.05)
    approx = levrf.ridge_leverage(k, X, W, 0.05, method="approximate", rank=500)
    np.testing.assert_allclose(approx.numpy(), exact.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kernel", [levrf.GaussianKernel(1.0), levrf.ReLUNTK(), levrf.ArcCosineKernel(1)],
                         ids=["gaussian", "relu_ntk", "arccos1"])
def test_subsample_rescaling_is_exact_on_replicated_data(kernel, X):
    """Data = k copies of X₀: τ(w; α) on all rows equals τ(w; α/k) on X₀, which is what one copy
    (r = n/k rows) at the rescaled ridge α·r/n computes."""
    copies = 4
    X0 = torch.as_tensor(X[:15])
    Xk = X0.repeat(copies, 1)
    W = kernel.sample(12, 3, 1)
    full = levrf.ridge_leverage(kernel, Xk, W, 0.2)
    one_copy = SubsampleLeverage(kernel, Xk, 0.2, rows=torch.arange(15))
    np.testing.assert_allclose(one_copy(W).numpy(), full.numpy(), rtol=1e-8)
    s_full = levrf.statistical_dimension(kernel(Xk), 0.2)
    assert one_copy.statistical_dimension() == pytest.approx(s_full, rel=1e-8)


def test_nystrom_with_all_rows_is_exact_and_dominates_otherwise(X):
    k = levrf.GaussianKernel(1.5)
    W = k.sample(30, 3, 2)
    exact = levrf.ridge_leverage(k, X, W, 0.5)
    full = levrf.ridge_leverage(k, X, W, 0.5, method="nystrom", rank=60)
    np.testing.assert_allclose(full.numpy(), exact.numpy(), rtol=1e-6)
    # K̃ ≼ K  ⇒  (K̃ + αI)⁻¹ ≽ (K + αI)⁻¹  ⇒  τ̃ ≥ τ for every weight
    low = levrf.ridge_leverage(k, X, W, 0.5, method="nystrom", rank=10, random_state=3)
    assert bool((low >= exact * (1 - 1e-9)).all())


def test_pool_gram_is_leave_one_out_leverage_under_the_pool_estimate_of_K(X):
    """τ_r = Φ_rᵀ (K̂₋ᵣ + αI)⁻¹ Φ_r with K̂₋ᵣ = (1/M) Σ_{j≠r} Φ_jΦ_jᵀ, computed directly."""
    k = levrf.GaussianKernel(1.0)
    W = k.sample(25, 3, 4)
    M, n, alpha = 25, X.shape[0], 0.3
    Phi = k.features(X, W).numpy()  # (n, M, 2)
    got = pool_gram_leverage(k, X, W, alpha).numpy()
    for r in range(M):
        others = [j for j in range(M) if j != r]
        Khat = sum(Phi[:, j] @ Phi[:, j].T for j in others) / M
        expected = np.trace(Phi[:, r].T @ np.linalg.solve(Khat + alpha * np.eye(n), Phi[:, r]))
        assert got[r] == pytest.approx(expected, rel=1e-8)


def test_pool_gram_limit(X):
    with pytest.raises(ValueError, match="pool_gram"):
        pool_gram_leverage(levrf.GaussianKernel(1.0), X, np.ones((9000, 3)), 0.1)


@pytest.mark.parametrize("method", ["approximate", "nystrom"])
def test_never_forms_an_n_by_n_matrix(method, X):
    k = NoSquareKernel(1.0)
    W = k.sample(10, 3, 0)
    tau = levrf.ridge_leverage(k, X, W, 0.1, method=method, rank=20)
    assert tau.shape == (10,) and bool((tau > 0).all())
    with pytest.raises(AssertionError, match="kernel matrix"):
        levrf.ridge_leverage(k, X, W, 0.1, method="exact")


def test_approximate_tracks_exact_leverage(rng):
    """On clustered data the subsample (r = n/4) keeps the ordering of τ (rank correlation > 0.9), and
    it is biased low on average: τ(w) = ⟨e_w, (I − α(A + α)⁻¹) e_w⟩ is concave in the row operator A,
    which the rescaled subsample estimates without bias, so E_S[τ_S] ≤ τ (Jensen)."""
    centers = rng.standard_normal((5, 3)) * 3
    X = centers[rng.integers(0, 5, 400)] + 0.3 * rng.standard_normal((400, 3))
    k = levrf.GaussianKernel(1.0)
    W = k.sample(3000, 3, 5)
    exact = levrf.ridge_leverage(k, X, W, 0.05)
    approx = [levrf.ridge_leverage(k, X, W, 0.05, method="approximate", rank=100, random_state=i)
              for i in range(8)]
    ranks = [torch.argsort(torch.argsort(t)).double() for t in (exact, approx[0])]
    assert float(torch.corrcoef(torch.stack(ranks))[0, 1]) > 0.9
    assert bool((torch.stack(approx).mean(0) <= exact * (1 + 1e-9)).float().mean() > 0.95)


def test_sampler_with_approximate_method_reports_approximate_spectrum(X):
    rf = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=20, sampling="leverage", alpha=0.05,
                              leverage_method="approximate", random_state=0).fit(X)
    assert rf.sampling_info_["method"] == "approximate"
    assert rf.sampling_info_["statistical_dimension_source"] == "approximate spectrum"
    assert math.isfinite(rf.statistical_dimension_)


def test_nystrom_at_alpha_matches_a_fresh_scorer(X):
    k = levrf.GaussianKernel(1.0)
    W = k.sample(10, 3, 0)
    a = NystromLeverage(k, X, 0.1, rank=20, generator=torch.Generator().manual_seed(0)).at_alpha(0.4)
    b = NystromLeverage(k, X, 0.4, rank=20, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(a(W).numpy(), b(W).numpy(), rtol=1e-10)
