"""The normalization of levrf.Nystroem: a pivoted Cholesky factor of K_CC, stopped at M·eps·s_max.

- well-conditioned K_CC: every pivot is kept, ψψᵀ = K(x, C) K_CC⁻¹ K(C, z) to 1e-10 and the ridge
  predictor equals that of the eigen path (the two maps differ by a rotation);
- duplicated centers are reduced to the distinct ones (the same map as the eigen path on the
  singular K_CC); near-duplicates, smooth kernels and synthetic spectra drop pivots, keep an
  orthonormal block and at least every eigenvalue that the dropped Schur complement cannot hide.
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


def kept_block_check(N, K, eps=EPS64):
    """Nᵀ K N = I (the kept directions are orthonormal in K's metric), to the rounding of K
    (eps·s_max) amplified by ‖N‖₂²."""
    r = N.shape[1]
    s_max = float(np.linalg.eigvalsh(K)[-1])
    tol = 1e3 * eps * s_max * float(np.linalg.norm(N, 2)) ** 2
    np.testing.assert_allclose(N.T @ K @ N, np.eye(r), rtol=0, atol=tol)


def test_well_conditioned_centers_keep_every_pivot_and_reproduce_the_nystroem_kernel(data):
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
    kept_block_check(N, K_CC)
    assert "eigenvalues_" not in vars(f)  # computed when first read, not in fit
    np.testing.assert_allclose(f.eigenvalues_.numpy(), np.sort(np.linalg.eigvalsh(K_CC))[::-1],
                               rtol=0, atol=1e3 * EPS64 * float(f.eigenvalues_[0]))
    # the eigen path on the same centers: a rotation of the same features, the same ridge predictor
    N_eig, how = nystroem_normalization(torch.as_tensor(K_CC), torch.float64, method="eigh")
    assert how == "eigh" and N_eig.shape == (60, 60)
    K_X, K_t = kernel(X, C).numpy(), kernel(Xt, C).numpy()
    alpha = 1e-2
    a = ridge_predict(K_X @ N, y, K_t @ N, alpha)
    b = ridge_predict(K_X @ N_eig.numpy(), y, K_t @ N_eig.numpy(), alpha)
    s_max = float(np.linalg.eigvalsh(K_CC)[-1])
    kappa = (s_max + alpha) / alpha * np.linalg.cond(K_CC)
    np.testing.assert_allclose(a, b, rtol=0, atol=10 * EPS64 * kappa * np.linalg.norm(y))


def test_a_refit_forgets_the_old_spectrum(data):
    X, _, _ = data
    f = levrf.Nystroem(levrf.LaplacianKernel(1.0), n_components=20, random_state=0).fit(X)
    first = f.eigenvalues_.clone()
    f.set_params(random_state=1).fit(X)
    K = levrf.LaplacianKernel(1.0)(f.centers_).numpy()
    np.testing.assert_allclose(f.eigenvalues_.numpy(), np.sort(np.linalg.eigvalsh(K))[::-1], atol=1e-12)
    assert not torch.allclose(first, f.eigenvalues_)


def test_duplicated_centers_are_reduced_to_the_distinct_ones(data):
    """Every row repeated: K_CC is singular, but the Nyström map depends only on the distinct
    centers, so the normalization is computed on them and ψψᵀ is the Nyström kernel of the
    distinct centers; eigenvalues_ are still those of the full K_CC."""
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
    # the same map as the eigen path and as the pivoted factor of the full, singular K_CC (each
    # drops the repeated directions)
    for method in ("eigh", "auto"):
        N_full, how = nystroem_normalization(torch.as_tensor(full), torch.float64, method=method)
        assert N_full.shape[1] == 40 and how == ("eigh" if method == "eigh" else "pivoted cholesky")
        Q = kernel(Xt, f.centers_).numpy() @ N_full.numpy()
        np.testing.assert_allclose(P @ P.T, Q @ Q.T, rtol=0, atol=1e-9)


def test_near_duplicates_are_not_merged_and_drop_pivots(data):
    X, _, _ = data
    Xd = np.vstack([X[:40], X[:40] + 1e-9])  # Gaussian: each pair adds an eigenvalue ~1e-18
    f = levrf.Nystroem(levrf.GaussianKernel(3.0), n_components=80).fit(Xd)
    assert f.sampling_info_["distinct_centers"] == 80
    assert f.sampling_info_["normalization"] == "pivoted cholesky" and f.n_output_features_ <= 40


def dropped_bound_holds(K, r, eps=EPS64):
    """A pivoted factor stopped at r pivots leaves a Schur complement S whose diagonal is below
    tol = M·eps·max K_ii, and the (r+1)-th eigenvalue of K is at most ‖S‖ ≤ tr S ≤ (M − r)·tol
    (Cauchy interlacing): every eigenvalue above that must have been kept."""
    M = K.shape[0]
    s = np.sort(np.linalg.eigvalsh(K))[::-1]
    tol = M * eps * float(np.diagonal(K).max())
    # 2×: the computed pivots carry rounding of the size of tol itself
    return r >= int((s > 2 * (M - r) * tol).sum())


def test_smooth_kernel_drops_pivots_and_keeps_an_orthonormal_block(data):
    X, _, _ = data
    kernel = levrf.GaussianKernel(5.0)
    f = levrf.Nystroem(kernel, n_components=100, random_state=0).fit(X)
    assert f.sampling_info_["normalization"] == "pivoted cholesky" and f.n_output_features_ < 100
    K = kernel(f.centers_).numpy()
    N = f.normalization_.numpy()
    kept_block_check(N, K)
    rows = np.flatnonzero(np.abs(N).sum(1) > 0)  # the kept centers: the rows of N that are not zero
    assert rows.size == f.n_output_features_
    assert dropped_bound_holds(K, f.n_output_features_)


@pytest.mark.parametrize("smallest", [1e-2, 1e-8, 1e-12, 1e-13, 1e-15, 0.0])
def test_pivots_are_dropped_only_at_the_rounding_level(smallest):
    """Synthetic K = Q diag(s) Qᵀ with s from 1 to ``smallest``: every pivot is kept when every
    eigenvalue is comfortably above rounding; otherwise the kept block is orthonormal in K's
    metric and every eigenvalue above what the dropped part can hide is kept."""
    M = 50
    g = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(M, M, generator=g, dtype=torch.float64))
    s = torch.logspace(0, np.log10(smallest), M, dtype=torch.float64) if smallest > 0 else \
        torch.cat([torch.logspace(0, -6, M - 5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)])
    K = (Q * s) @ Q.T
    N, how = nystroem_normalization(K, torch.float64)
    if float(s.min()) >= 1e-8:  # comfortably conditioned: every pivot must be kept
        assert how == "cholesky" and N.shape == (M, M)
    if smallest == 0.0:  # five exact zeros: at least five pivots are rounding
        assert how == "pivoted cholesky" and N.shape[1] <= M - 5
    kept_block_check(N.numpy(), K.numpy())
    assert dropped_bound_holds(K.numpy(), N.shape[1])


def test_normalization_validates_its_method():
    with pytest.raises(ValueError, match="method"):
        nystroem_normalization(torch.eye(3, dtype=torch.float64), torch.float64, method="svd")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_triangular_product_equals_the_dense_map(data, dtype):
    """ψ by the kept centers' kernel and an in-place triangular product (``trmm``) equals the
    dense ``K(x, C)·N`` to the dtype's rounding amplified by ‖N‖, with repeated and dropped
    centers; the ``eigh`` map has no triangular form and keeps the dense product."""
    from levrf.nystroem import multiply_upper_triangular_, triangular_form

    X, _, Xt = data
    X = np.vstack([X, X[:50]])  # repeated rows: some centers are duplicates
    model = levrf.Nystroem(levrf.GaussianKernel(2.5), n_components=200, random_state=0, dtype=dtype).fit(X)
    N = model.normalization_
    order, T = triangular_form(N)
    assert torch.equal(T, T.triu()) and bool((T.diagonal() != 0).all())
    kept = (N != 0).any(1)
    assert int(kept.sum()) == N.shape[1] and set(order.tolist()) == set(kept.nonzero().squeeze(1).tolist())
    rows = torch.as_tensor(Xt, dtype=N.dtype)
    dense = model.kernel_.compute(rows, model.centers_) @ N
    eps = torch.finfo(N.dtype).eps
    tol = 1e2 * eps * float(torch.linalg.matrix_norm(N.double(), 2))
    torch.testing.assert_close(model.feature_map(rows), dense, rtol=0, atol=tol)
    A = torch.as_tensor(np.random.default_rng(0).standard_normal((7, T.shape[0])), dtype=N.dtype)
    torch.testing.assert_close(multiply_upper_triangular_(A.clone(), T), A @ T, rtol=0,
                               atol=1e2 * eps * float(A.abs().max() * T.abs().sum(0).max()))
    K = model.kernel_.compute(model.centers_, model.centers_)
    dense_eigh, _ = nystroem_normalization(K, N.dtype, method="eigh")
    assert triangular_form(dense_eigh) is None
