"""Exact ridge leverage τ_λ(w) (Def. 3.1): the definition computed the slow way, s_λ = E_p τ (Eq. 4)."""

import math

import numpy as np
import pytest
import torch

import levrf
from levrf.leverage.scores import ExactLeverage

ALPHA = 0.1


def user_kernel():
    """A user kernel: cos/sin features with Student-t frequencies (d1 = d), no special casing."""

    def sample(m, d, gen):
        return torch.randn((m, d), generator=gen, dtype=torch.float64) * 0.7

    def features(X, W):
        P = X @ W.T
        return torch.stack((torch.cos(P), torch.sin(P)), -1)

    def exact(X, Z):
        sq = (X * X).sum(1)[:, None] + (Z * Z).sum(1)[None, :] - 2 * X @ Z.T
        return torch.exp(-0.49 * sq.clamp_min(0) / 2)

    return levrf.FunctionKernel(sample, features, exact)


KERNELS = {
    "gaussian": lambda: levrf.GaussianKernel(1.3),
    "laplacian": lambda: levrf.LaplacianKernel(2.0),
    "matern0.5": lambda: levrf.MaternKernel(0.5, 1.5),
    "matern1.5": lambda: levrf.MaternKernel(1.5, 1.0),
    "matern2.5": lambda: levrf.MaternKernel(2.5, 1.0),
    "arccos0": lambda: levrf.ArcCosineKernel(0),
    "arccos1": lambda: levrf.ArcCosineKernel(1),
    "relu_ntk": lambda: levrf.ReLUNTK(),
    "user": user_kernel,
}


@pytest.fixture
def X(rng):
    X = rng.standard_normal((30, 3)) + np.array([0.5, 0.0, -0.3])
    return X / np.linalg.norm(X, axis=1, keepdims=True) * rng.uniform(0.5, 1.5, (30, 1))


def slow_tau(kernel, X, W, alpha):
    """τ(w_r) = tr[Φ(w_r)ᵀ (K + αI)⁻¹ Φ(w_r)], one weight at a time, explicit inverse (NumPy)."""
    K = kernel(X).numpy()
    inv = np.linalg.inv(K + alpha * np.eye(len(X)))
    out = []
    for r in range(W.shape[0]):
        Phi = kernel.features(X, W[r : r + 1])[:, 0, :].numpy()  # (n, d2)
        out.append(np.trace(Phi.T @ inv @ Phi))
    return np.array(out)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_equals_slow_definition(name, X):
    kernel = KERNELS[name]()
    W = kernel.sample(25, X.shape[1], 3)
    expected = slow_tau(kernel, X, W, ALPHA)
    got = levrf.ridge_leverage(kernel, X, W, ALPHA).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8 * expected.max())
    chunked = levrf.ridge_leverage(kernel, X, W, ALPHA, batch_size=4).numpy()
    np.testing.assert_allclose(chunked, expected, rtol=1e-8, atol=1e-8 * expected.max())


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_mean_over_p_is_statistical_dimension(name, X):
    """E_{w~p}[τ_λ(w)] = tr[(K+λI)⁻¹ E_p ΦΦᵀ] = tr[(K+λI)⁻¹K] = s_λ, within 4 standard errors."""
    kernel = KERNELS[name]()
    tau = levrf.ridge_leverage(kernel, X, kernel.sample(6000, X.shape[1], 11), ALPHA)
    s = levrf.statistical_dimension(kernel(X), ALPHA)
    se = float(tau.std()) / math.sqrt(tau.numel())
    assert abs(float(tau.mean()) - s) <= 4 * se, (float(tau.mean()), s, se)


def test_mean_identity_is_exact_for_a_discrete_p(X):
    """If p is uniform on J weights, K is their average and mean τ over them is exactly s_λ."""
    base = levrf.GaussianKernel(0.8)
    support = base.sample(40, X.shape[1], 5)
    X_t = torch.as_tensor(X)

    def exact(A, B):
        FA, FB = base.features(A, support), base.features(B, support)
        return torch.einsum("imk,jmk->ij", FA, FB) / support.shape[0]

    kernel = levrf.FunctionKernel(lambda m, d, g: support[:m], lambda A, W: base.compute_features(A, W), exact)
    tau = levrf.ridge_leverage(kernel, X_t, support, 0.05)
    assert float(tau.mean()) == pytest.approx(levrf.statistical_dimension(kernel(X_t), 0.05), rel=1e-10)


def test_float32_kernel_is_scored_in_float64(X):
    k64, k32 = levrf.GaussianKernel(1.0), levrf.GaussianKernel(1.0, dtype="float32")
    W = k64.sample(10, 3, 0)
    tau32 = levrf.ridge_leverage(k32, X, W, 1e-3)
    assert tau32.dtype == torch.float64
    np.testing.assert_allclose(tau32.numpy(), levrf.ridge_leverage(k64, X, W, 1e-3).numpy(), rtol=1e-10)


def test_bounds_and_monotonicity(X):
    """0 ≤ τ_λ ≤ ‖Φ‖_F²/(λ_min+λ), and τ decreases as λ grows."""
    kernel = levrf.ArcCosineKernel(1)
    W = kernel.sample(200, 3, 1)
    small, large = (levrf.ridge_leverage(kernel, X, W, a) for a in (0.01, 1.0))
    assert bool((large <= small + 1e-12).all())
    norms = kernel.features(X, W).pow(2).sum((0, 2))
    lam_min = float(torch.linalg.eigvalsh(kernel(X))[0])
    assert bool((small <= norms / (max(lam_min, 0.0) + 0.01) * (1 + 1e-10)).all())


def test_scorer_statistical_dimension_and_at_alpha(X):
    kernel = levrf.GaussianKernel(1.0)
    f = ExactLeverage(kernel, X, 0.1)
    K = kernel(X)
    assert f.statistical_dimension() == pytest.approx(levrf.statistical_dimension(K, 0.1), rel=1e-10)
    g = f.at_alpha(0.5)
    W = kernel.sample(7, 3, 2)
    np.testing.assert_allclose(g(W).numpy(), levrf.ridge_leverage(kernel, X, W, 0.5).numpy(), rtol=1e-10)
    assert g.statistical_dimension() == pytest.approx(levrf.statistical_dimension(K, 0.5), rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": "big"}, TypeError, "alpha"),
        ({"method": "fast"}, ValueError, "method"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"rank": -1, "method": "approximate"}, ValueError, "rank"),
        ({"W": np.ones((3, 2))}, ValueError, "W"),
        ({"W": np.full((3, 3), np.nan)}, ValueError, "W"),
        ({"kernel": "gaussian"}, TypeError, "kernel"),
        ({"kernel": levrf.DeepReLUNTK(2)}, ValueError, "random features"),
    ],
)
def test_invalid_inputs(X, kwargs, error, match):
    args = {"kernel": levrf.GaussianKernel(1.0), "X": X, "W": np.ones((3, 3)), "alpha": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        levrf.ridge_leverage(**args)


def test_user_kernel_without_closed_form_is_refused(X):
    k = user_kernel()
    k = levrf.FunctionKernel(k.sample_fn, k.features_fn)
    with pytest.raises(ValueError, match="closed form"):
        levrf.ridge_leverage(k, X, np.ones((2, 3)), 0.1)
