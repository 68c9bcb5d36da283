"""The normalization of levrf.Nystroem: Cholesky where it provably drops nothing, eigh otherwise.

- where a Cholesky factor is used, ψψᵀ = K(x, C) K_CC⁻¹ K(C, z) to 1e-10 and the ridge predictor
  equals that of the eigen path (the two maps differ by a rotation);
- duplicated centers are reduced to the distinct ones (the same map as the eigen path on the
  singular K_CC); near-duplicates and ill-conditioned K_CC fall back to eigh;
- on synthetic spectra, "cholesky" is chosen only where every eigenvalue exceeds the threshold.
"""

import numpy as np
import pytest
import torch
from scipy.linalg import cho_factor, cho_solve

import levrf
from levrf.nystroem import nystroem_normalization

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPS64 = torch.finfo(torch.float64).eps


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((300, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(300)
    return X, y, rng.standard_normal((40, 3))


def ridge_predict(P_train, y, P_test, alpha):
    G = P_train.T @ P_train + alpha * np.eye(P_train.shape[1])
    return P_test @ np.linalg.solve(G, P_train.T @ y)


def test_well_conditioned_centers_use_cholesky_and_reproduce_the_nystroem_kernel(data):
    X, y, Xt = data
    kernel = levrf.LaplacianKernel(1.0)
    f = levrf.Nystroem(kernel, n_components=60, random_state=0).fit(X)
    assert f.sampling_info_["normalization"] == "cholesky" and f.n_output_features_ == 60
    C = f.centers_.numpy()
    K_CC = kernel(C, C).numpy()
    assert np.linalg.cond(K_CC) < 1e5  # the direct reference solve is then accurate to 1e-10
    expected = kernel(Xt, C).numpy() @ cho_solve(cho_factor(K_CC), kernel(X[:30], C).numpy().T)
    np.testing.assert_allclose(f.transform(Xt) @ f.transform(X[:30]).T, expected, rtol=0, atol=1e-10)
    N = f.normalization_.numpy()
    assert np.allclose(np.tril(N, -1), 0.0)  # L⁻ᵀ is upper triangular
    np.testing.assert_allclose(N.T @ K_CC @ N, np.eye(60), rtol=0, atol=1e3 * EPS64 * np.linalg.cond(K_CC))
    np.testing.assert_allclose(f.eigenvalues_.numpy(), np.sort(np.linalg.eigvalsh(K_CC))[::-1],
                               rtol=0, atol=1e3 * EPS64 * float(f.eigenvalues_[0]))
    # the eigen path on the same centers: a rotation of the same features, the same ridge predictor
    N_eig, s, how = nystroem_normalization(torch.as_tensor(K_CC), torch.float64, method="eigh")
    assert how == "eigh" and N_eig.shape == (60, 60)
    K_X, K_t = kernel(X, C).numpy(), kernel(Xt, C).numpy()
    alpha = 1e-2
    a = ridge_predict(K_X @ N, y, K_t @ N, alpha)
    b = ridge_predict(K_X @ N_eig.numpy(), y, K_t @ N_eig.numpy(), alpha)
    kappa = (float(s[0]) + alpha) / alpha * np.linalg.cond(K_CC)
    np.testing.assert_allclose(a, b, rtol=0, atol=10 * EPS64 * kappa * np.linalg.norm(y))


def test_duplicated_centers_are_reduced_to_the_distinct_ones(data):
    """Every row repeated: K_CC is singular, but the Nyström map depends only on the distinct
    centers, so the normalization is computed on them (here by Cholesky) and ψψᵀ is the Nyström
    kernel of the distinct centers; eigenvalues_ are still those of the full K_CC."""
    X, _, Xt = data
    kernel = levrf.LaplacianKernel(1.0)
    Xd = np.repeat(X[:40], 2, axis=0)
    f = levrf.Nystroem(kernel, n_components=80).fit(Xd)  # every row a center: each one twice
    assert f.sampling_info_["distinct_centers"] == 40 and f.n_output_features_ == 40
    C = X[:40]
    K_CC = kernel(C, C).numpy()
    expected = kernel(Xt, C).numpy() @ cho_solve(cho_factor(K_CC), kernel(Xt, C).numpy().T)
    P = f.transform(Xt)
    np.testing.assert_allclose(P @ P.T, expected, rtol=0, atol=1e-9)
    full = kernel(f.centers_, f.centers_).numpy()
    s = f.eigenvalues_.numpy()
    np.testing.assert_allclose(s, np.sort(np.linalg.eigvalsh(full))[::-1], rtol=0, atol=1e3 * EPS64 * s[0])
    # the same map as the eigen path on the full, singular K_CC (which drops the repeated directions)
    N_full, _, how = nystroem_normalization(torch.as_tensor(full), torch.float64)
    assert how == "eigh" and N_full.shape[1] == 40
    Q = kernel(Xt, f.centers_).numpy() @ N_full.numpy()
    np.testing.assert_allclose(P @ P.T, Q @ Q.T, rtol=0, atol=1e-9)


def test_near_duplicates_are_not_merged_and_fall_back_to_eigh(data):
    X, _, _ = data
    Xd = np.vstack([X[:40], X[:40] + 1e-9])  # Gaussian: each pair adds an eigenvalue ~1e-18
    f = levrf.Nystroem(levrf.GaussianKernel(3.0), n_components=80).fit(Xd)
    assert f.sampling_info_["distinct_centers"] == 80
    assert f.sampling_info_["normalization"] == "eigh" and f.n_output_features_ < 80


def test_smooth_kernel_falls_back_to_eigh(data):
    X, _, _ = data
    f = levrf.Nystroem(levrf.GaussianKernel(5.0), n_components=100, random_state=0).fit(X)
    assert f.sampling_info_["normalization"] == "eigh" and f.n_output_features_ < 100


@pytest.mark.parametrize("smallest", [1e-2, 1e-8, 1e-12, 1e-13, 1e-15, 0.0])
def test_cholesky_only_where_no_eigenvalue_is_dropped(smallest):
    """Synthetic K = Q diag(s) Qᵀ with s from 1 to ``smallest``: "cholesky" only if every s exceeds
    the threshold M·eps·max(s); either way N Nᵀ is the pseudo-inverse on the kept spectrum."""
    M = 50
    g = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(M, M, generator=g, dtype=torch.float64))
    s = torch.logspace(0, np.log10(smallest), M, dtype=torch.float64) if smallest > 0 else \
        torch.cat([torch.logspace(0, -6, M - 5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)])
    K = (Q * s) @ Q.T
    N, eig, how = nystroem_normalization(K, torch.float64)
    threshold = M * EPS64 * float(eig[0])
    if how == "cholesky":
        assert float(torch.linalg.eigvalsh(K).min()) > threshold
        assert N.shape == (M, M)
    if float(s.min()) <= threshold:
        assert how == "eigh"
    if float(s.min()) >= 1e-8:  # comfortably conditioned: the factor must be taken
        assert how == "cholesky"
    # N Nᵀ K N Nᵀ = N Nᵀ (a generalised inverse) and Nᵀ K N = I, to the conditioning of the kept part
    kept = float(eig[N.shape[1] - 1])
    tol = 1e3 * EPS64 * float(eig[0]) / kept
    torch.testing.assert_close(N.T @ K @ N, torch.eye(N.shape[1], dtype=torch.float64), rtol=0, atol=tol)


def test_normalization_validates_its_method():
    with pytest.raises(ValueError, match="method"):
        nystroem_normalization(torch.eye(3, dtype=torch.float64), torch.float64, method="svd")
