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
    K = levrf.GaussianKernel(1.0)(X).numpy()
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
    for eps, delta, s_tilde, s_lambda in [(0.5, 0.1, 20.0, 10.0), (0.1, 0.01, 7.5, 7.5), (0.3, 0.5, 3.0, 1.0)]:
        expected = math.ceil(8 / 3 * s_tilde * math.log(16 * s_tilde * s_lambda / delta) / eps**2)
        assert levrf.feature_bound(eps, delta, s_tilde, s_lambda) == expected
    # by hand: (8/3)·0.5⁻²·20·ln(16·20·10/0.1) = 213.33…·ln(32000) = 213.33…·10.3735 = 2213.01 → 2214
    assert levrf.feature_bound(0.5, 0.1, 20.0, 10.0) == 2214
    # halving ε quadruples the unrounded bound: 4·2213.01 = 8852.05 → 8853
    assert levrf.feature_bound(0.25, 0.1, 20.0, 10.0) == 8853


def test_feature_bound_covers_the_end_of_the_theorem_range():
    """ε = 1/2 (levrf's own Theorem 3.3 check) is accepted; just above it is refused."""
    assert levrf.feature_bound(0.5, 0.1, 20.0, 10.0) == 2214
    with pytest.raises(ValueError, match="Theorem 3.3"):
        levrf.feature_bound(0.5 + 1e-12, 0.1, 20.0, 10.0)


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
        ({"epsilon": 0.7}, r"epsilon must lie in \(0, 0.5\]", ValueError),  # outside Theorem 3.3
        ({"epsilon": 1.0}, r"epsilon must lie in \(0, 0.5\]", ValueError),
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


# ------------------------------------------------------------------ K must be a kernel matrix
EPS = np.finfo(np.float64).eps


def with_spectrum(rng, eigenvalues):
    """Q diag(λ) Qᵀ with a random orthogonal Q, symmetric to the last bit."""
    n = len(eigenvalues)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    K = (Q * np.asarray(eigenvalues)) @ Q.T
    return np.triu(K) + np.triu(K, 1).T


def test_negative_definite_k_is_refused():
    """statistical_dimension(-I, 0.1) used to clamp every eigenvalue to 0 and return 0.0."""
    with pytest.raises(ValueError, match=r"K is not positive semi-definite: its smallest eigenvalue is -1"):
        levrf.statistical_dimension(-np.eye(5), 0.1)
    with pytest.raises(ValueError, match="K is not positive semi-definite"):
        levrf.spectral_error(-np.eye(5), np.ones((5, 2)), 0.1)  # was torch's _LinAlgError


def test_indefinite_k_is_refused_even_where_k_plus_alpha_i_factors(rng):
    """λ_min = -0.05 > -α: the Cholesky of K + αI succeeds, and ε used to come back silently."""
    K = with_spectrum(rng, [2.0, 1.0, 0.5, 0.1, -0.05])
    Psi = rng.standard_normal((5, 3))
    with pytest.raises(ValueError, match=r"K is not positive semi-definite: its smallest eigenvalue is -0\.05"):
        levrf.spectral_error(K, Psi, 0.1)
    with pytest.raises(ValueError, match=r"K is not positive semi-definite: its smallest eigenvalue is -0\.05"):
        levrf.statistical_dimension(K, 0.1)


def test_non_symmetric_k_is_refused(rng):
    """Both diagnostics used to replace K by (K + Kᵀ)/2 without a word."""
    K, Psi = gaussian_problem(rng, n=8, m=4)
    bad = K.copy()
    bad[0, 3] += 1e-6
    for call in (lambda: levrf.statistical_dimension(bad, 0.1), lambda: levrf.spectral_error(bad, Psi, 0.1)):
        with pytest.raises(ValueError, match=r"K is not symmetric: max \|K - K.T\| = 1e-06 > tol"):
            call()
    with pytest.raises(ValueError, match="K is not symmetric"):
        levrf.statistical_dimension(np.triu(np.ones((4, 4))), 0.1)


def test_rounding_level_asymmetry_and_negative_eigenvalues_are_accepted(rng):
    """Within the documented tolerances K is a kernel matrix: results equal the exact ones."""
    eig = np.array([3.0, 1.0, 0.2, 0.0, -10 * 5 * EPS * 3.0])  # λ_min = -10·eps·n·‖K‖₂, 1/10 of tol
    K = with_spectrum(rng, eig)
    expected = float((eig.clip(0) / (eig.clip(0) + 0.1)).sum())
    assert levrf.statistical_dimension(K, 0.1) == pytest.approx(expected, rel=1e-12)
    bumped = K.copy()
    bumped[1, 2] += 10 * EPS * np.abs(K).max()  # 1/10 of the symmetry tolerance
    assert levrf.statistical_dimension(bumped, 0.1) == pytest.approx(expected, rel=1e-12)
    Psi = rng.standard_normal((5, 4))
    assert levrf.spectral_error(bumped, Psi, 0.1) == pytest.approx(levrf.spectral_error(K, Psi, 0.1), rel=1e-10)


def test_float32_kernel_matrix_is_checked_at_float32_rounding(rng):
    """A float32 K(X, X) carries float32 rounding; the tolerances follow its dtype."""
    X = rng.standard_normal((60, 3))
    K32 = levrf.GaussianKernel(0.3, dtype="float32")(X)
    K64 = levrf.GaussianKernel(0.3)(X)
    # s_λ is 1-Lipschitz in each eigenvalue over λ: float32 rounding moves it by ~n·1e-7/λ
    assert levrf.statistical_dimension(K32, 0.1) == pytest.approx(levrf.statistical_dimension(K64, 0.1), abs=1e-4)
    bad = K32.clone()
    bad[0, 1] += 1e-3
    with pytest.raises(ValueError, match="K is not symmetric"):
        levrf.statistical_dimension(bad, 0.1)


def test_alpha_below_the_rounding_of_k_is_a_clear_error():
    """A singular PSD K with α = 1e-300: K + αI cannot be factored (was torch's _LinAlgError)."""
    with pytest.raises(ValueError, match="alpha"):
        levrf.spectral_error(np.ones((3, 3)), np.ones((3, 1)), 1e-300)


def test_psi_must_match_k(rng):
    K, Psi = gaussian_problem(rng, n=6, m=3)
    with pytest.raises(ValueError, match="Psi has 5 rows but K has 6"):
        levrf.spectral_error(K, Psi[:5], 0.1)
    with pytest.raises(ValueError, match="Psi must be 2-D"):
        levrf.spectral_error(K, Psi[:, 0], 0.1)
