"""Statistical dimension, spectral error and the Theorem 3.3 bound against their definitions."""

import math

import numpy as np
import pytest
import torch

import levrf


def gaussian_problem(rng, n=40, m=30, bandwidth=1.5):
    X = rng.standard_normal((n, 3))
    K = levrf.GaussianKernel(bandwidth)(X).numpy()
    Psi = levrf.RandomFeatures(levrf.GaussianKernel(bandwidth), n_features=m, random_state=4).fit_transform(X)
    return K, Psi


def brute_force_epsilon(K, Psi, alpha):
    """Largest |eigenvalue| of (K+λI)^{-1/2}(ΨΨᵀ−K)(K+λI)^{-1/2}, square root from eigh."""
    vals, vecs = np.linalg.eigh(K + alpha * np.eye(K.shape[0]))
    inv_sqrt = vecs @ np.diag(vals**-0.5) @ vecs.T
    E = inv_sqrt @ (Psi @ Psi.T - K) @ inv_sqrt
    return np.abs(np.linalg.eigvalsh(0.5 * (E + E.T))).max()


def loewner_margins(K, Psi, alpha, eps):
    """Smallest eigenvalues of ΨΨᵀ+λI − (1−ε)(K+λI) and (1+ε)(K+λI) − (ΨΨᵀ+λI)."""
    A = K + alpha * np.eye(K.shape[0])
    B = Psi @ Psi.T + alpha * np.eye(K.shape[0])
    return np.linalg.eigvalsh(B - (1 - eps) * A).min(), np.linalg.eigvalsh((1 + eps) * A - B).min()


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 1.0, 10.0])
def test_statistical_dimension_equals_trace_formula(alpha, rng):
    X = rng.standard_normal((50, 4))
    K = levrf.LaplacianKernel(2.0)(X).numpy()
    expected = np.trace(np.linalg.solve(K + alpha * np.eye(50), K))
    assert abs(levrf.statistical_dimension(K, alpha) - expected) <= 1e-10 * expected
    assert levrf.statistical_dimension(torch.from_numpy(K), alpha) == pytest.approx(expected, rel=1e-10)


def test_statistical_dimension_of_identity_and_zero():
    assert levrf.statistical_dimension(np.eye(7), 0.5) == pytest.approx(7 / 1.5, rel=1e-14)
    assert levrf.statistical_dimension(np.zeros((4, 4)), 0.5) == 0.0


@pytest.mark.parametrize("m,alpha", [(5, 0.01), (30, 0.1), (200, 0.1), (400, 1.0)])
def test_spectral_error_equals_brute_force(m, alpha, rng):
    K, Psi = gaussian_problem(rng, m=m)
    eps = levrf.spectral_error(K, Psi, alpha)
    assert abs(eps - brute_force_epsilon(K, Psi, alpha)) <= 1e-10
    # Eq. 2 holds at ε ...
    lower, upper = loewner_margins(K, Psi, alpha, eps)
    assert lower >= -1e-10 and upper >= -1e-10
    # ... and is the smallest such ε: at 0.99ε one side is violated by a clear margin
    lower, upper = loewner_margins(K, Psi, alpha, 0.99 * eps)
    assert min(lower, upper) < -1e-8


def test_spectral_error_of_exact_and_empty_features(rng):
    X = rng.standard_normal((20, 2))
    K = levrf.GaussianKernel()(X).numpy()
    vals, vecs = np.linalg.eigh(K)
    exact = vecs * np.sqrt(np.clip(vals, 0, None))  # ΨΨᵀ = K
    assert levrf.spectral_error(K, exact, 0.1) <= 1e-12
    # Ψ = 0: ε = λ_max / (λ_max + λ)
    top = vals.max()
    assert levrf.spectral_error(K, np.zeros((20, 3)), 0.1) == pytest.approx(top / (top + 0.1), rel=1e-12)


def test_spectral_error_accepts_torch_and_numpy(rng):
    K, Psi = gaussian_problem(rng)
    eps = levrf.spectral_error(K, Psi, 0.1)
    assert levrf.spectral_error(torch.from_numpy(K), torch.from_numpy(Psi), 0.1) == pytest.approx(eps, abs=1e-14)


def test_feature_bound_matches_formula():
    """m = ⌈(8/3) ε⁻² s̃ ln(16 s̃ s_λ / δ)⌉, evaluated here by hand."""
    for eps, delta, s_tilde, s_lambda in [(0.5, 0.1, 20.0, 10.0), (0.1, 0.01, 7.5, 7.5), (1.0, 0.5, 3.0, 1.0)]:
        expected = math.ceil(8 / 3 * s_tilde * math.log(16 * s_tilde * s_lambda / delta) / eps**2)
        assert levrf.feature_bound(eps, delta, s_tilde, s_lambda) == expected
    # by hand: (8/3)·0.5⁻²·20·ln(16·20·10/0.1) = 213.33…·ln(32000) = 213.33…·10.3735 = 2213.01 → 2214
    assert levrf.feature_bound(0.5, 0.1, 20.0, 10.0) == 2214
    # halving ε quadruples the unrounded bound: 4·2213.01 = 8852.05 → 8853
    assert levrf.feature_bound(0.25, 0.1, 20.0, 10.0) == 8853


def test_feature_bound_is_at_least_one():
    """When 16 s̃ s_λ < δ the logarithm is negative; every m ≥ 1 then satisfies the bound."""
    assert levrf.feature_bound(0.5, 0.9, 0.01, 0.01) == 1


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_alpha_must_be_positive(bad, rng):
    K, Psi = gaussian_problem(rng, n=5, m=3)
    with pytest.raises(ValueError, match="alpha"):
        levrf.statistical_dimension(K, bad)
    with pytest.raises(ValueError, match="alpha"):
        levrf.spectral_error(K, Psi, bad)


def test_alpha_must_be_a_number(rng):
    K, Psi = gaussian_problem(rng, n=5, m=3)
    with pytest.raises(TypeError, match="alpha"):
        levrf.statistical_dimension(K, "0.1")
    with pytest.raises(TypeError, match="alpha"):
        levrf.spectral_error(K, Psi, None)


def test_bad_matrices_name_the_argument(rng):
    K, Psi = gaussian_problem(rng, n=6, m=3)
    with pytest.raises(ValueError, match="K"):
        levrf.statistical_dimension(K[:, :5], 0.1)
    with pytest.raises(ValueError, match="K"):
        levrf.spectral_error(K[:5], Psi, 0.1)
    with pytest.raises(ValueError, match="Psi"):
        levrf.spectral_error(K, Psi[:5], 0.1)
    bad = K.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="K"):
        levrf.statistical_dimension(bad, 0.1)
    bad_psi = Psi.copy()
    bad_psi[2, 0] = np.inf
    with pytest.raises(ValueError, match="Psi"):
        levrf.spectral_error(K, bad_psi, 0.1)
    with pytest.raises(ValueError, match="K"):
        levrf.statistical_dimension(K[0], 0.1)
    with pytest.raises(TypeError, match="K"):
        levrf.statistical_dimension(np.array([["a", "b"], ["c", "d"]]), 0.1)


@pytest.mark.parametrize(
    "kwargs,name,exc",
    [
        ({"epsilon": 0.0}, "epsilon", ValueError),
        ({"epsilon": -0.1}, "epsilon", ValueError),
        ({"epsilon": "0.1"}, "epsilon", TypeError),
        ({"delta": 0.0}, "delta", ValueError),
        ({"delta": 1.0}, "delta", ValueError),
        ({"delta": 1.5}, "delta", ValueError),
        ({"s_tilde": 0.0}, "s_tilde", ValueError),
        ({"s_lambda": -1.0}, "s_lambda", ValueError),
        ({"s_tilde": 5.0, "s_lambda": 6.0}, "s_tilde", ValueError),  # q̃ must dominate q_λ
        ({"s_lambda": None}, "s_lambda", TypeError),
    ],
)
def test_feature_bound_validation(kwargs, name, exc):
    args = {"epsilon": 0.5, "delta": 0.1, "s_tilde": 10.0, "s_lambda": 8.0, **kwargs}
    with pytest.raises(exc, match=name):
        levrf.feature_bound(**args)
