"""Cholesky solve with jitter retry and the streaming normal-equation accumulator."""

import numpy as np
import pytest
import torch

import levrf
import levrf.linalg
from levrf.ridge.solvers import JitterWarning, NormalEquations, cholesky_solve, ridge_factor, ridge_solve

torch.set_num_threads(1)


def _spd(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A @ A.T + n * torch.eye(n, dtype=torch.float64)


def test_cholesky_solve_matches_dense_solve():
    A = _spd(30)
    B = torch.randn(30, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    X, jitter = cholesky_solve(A, B)
    assert jitter == 0.0
    torch.testing.assert_close(X, torch.linalg.solve(A, B), rtol=1e-12, atol=1e-12)
    x1, _ = cholesky_solve(A, B[:, 0])
    assert x1.shape == (30,)
    torch.testing.assert_close(x1, X[:, 0], rtol=1e-13, atol=1e-13)


def test_singular_system_gets_documented_jitter():
    # rank-1 PSD matrix: Cholesky fails, the first jitter (eps · mean diag) makes it PD
    v = torch.arange(1.0, 6.0, dtype=torch.float64)
    A = torch.outer(v, v)
    b = A @ torch.ones(5, dtype=torch.float64)
    with pytest.warns(JitterWarning, match="added"):
        x, jitter = cholesky_solve(A, b, what="K + alpha*I")
    eps, scale = torch.finfo(torch.float64).eps, float(A.diagonal().mean())
    ratio = jitter / (eps * scale)
    assert any(abs(ratio - 10.0**k) < 1e-9 * 10.0**k for k in range(6))
    # the solution solves the jittered system
    torch.testing.assert_close((A + jitter * torch.eye(5, dtype=torch.float64)) @ x, b, rtol=1e-6, atol=1e-6)


def test_indefinite_system_raises_clear_error():
    A = -torch.eye(4, dtype=torch.float64)
    with pytest.raises(np.linalg.LinAlgError, match="not numerically positive definite.*increase alpha"):
        cholesky_solve(A, torch.ones(4, dtype=torch.float64), what="K + alpha*I")
    assert issubclass(levrf.linalg.NotPositiveDefiniteError, ValueError)  # on every NumPy


def test_non_finite_and_bad_shapes_raise_value_error():
    A = _spd(3)
    A[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        cholesky_solve(A, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="square"):
        cholesky_solve(torch.ones(3, 2, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="rows"):
        cholesky_solve(_spd(3), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_normal_equations_equal_direct_products(dtype, chunk):
    g = torch.Generator().manual_seed(3)
    Psi = torch.randn(53, 12, generator=g, dtype=torch.float64).to(dtype)
    Y = torch.randn(53, 2, generator=g, dtype=torch.float64).to(dtype)
    acc = NormalEquations(12, 2, dtype=dtype, device=torch.device("cpu"))
    for s in range(0, 53, chunk):
        acc.add(Psi[s : s + chunk], Y[s : s + chunk])
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    G = acc.gram()
    assert G.dtype == dtype and acc.n_rows == 53
    torch.testing.assert_close(G, Psi.T @ Psi, rtol=tol, atol=tol)
    torch.testing.assert_close(acc.R, Psi.T @ Y, rtol=tol, atol=tol)
    assert torch.equal(G, G.T)


def test_normal_equations_check_shapes():
    acc = NormalEquations(3, 1, dtype=torch.float64, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="columns"):
        acc.add(torch.ones(2, 4, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="Y must have shape"):
        acc.add(torch.ones(2, 3, dtype=torch.float64), torch.ones(3, 1, dtype=torch.float64))


def test_ridge_solve_is_ridge_regression():
    g = torch.Generator().manual_seed(4)
    Psi = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = torch.randn(40, 1, generator=g, dtype=torch.float64)
    beta, _ = ridge_solve(Psi.T @ Psi, Psi.T @ y, 0.7)
    direct = torch.linalg.solve(Psi.T @ Psi + 0.7 * torch.eye(6, dtype=torch.float64), Psi.T @ y)
    torch.testing.assert_close(beta, direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("D", [12, 1030])
def test_syrk_and_addmm_paths_accumulate_the_same_gram(D):
    # one thread takes the syrk path; two threads take addmm below SYRK_MIN_THREADED_DIM
    g = torch.Generator().manual_seed(5)
    Psi = torch.randn(40, D, generator=g, dtype=torch.float64)
    acc = NormalEquations(D, 0, dtype=torch.float64, device=torch.device("cpu"))
    try:
        for threads, rows in ((1, slice(0, 15)), (2, slice(15, 40))):
            torch.set_num_threads(threads)
            acc.add(Psi[rows])
    finally:
        torch.set_num_threads(1)
    torch.testing.assert_close(acc.gram(), Psi.T @ Psi, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("threads", "D"), [(1, 12), (2, 12), (2, 1030)])
def test_float32_gram_is_the_sum_of_float32_chunk_products(threads, D):
    # each chunk is rounded to float32 and its product added to a float64 total; R stays float64
    g = torch.Generator().manual_seed(6)
    Psi = torch.randn(90, D, generator=g, dtype=torch.float64)
    Y = torch.randn(90, 2, generator=g, dtype=torch.float64)
    acc = NormalEquations(D, 2, dtype=torch.float64, device=torch.device("cpu"), gram_dtype=torch.float32)
    try:
        torch.set_num_threads(threads)
        for s in range(0, 90, 30):
            acc.add(Psi[s : s + 30], Y[s : s + 30])
    finally:
        torch.set_num_threads(1)
    G = acc.gram()
    assert G.dtype == torch.float64 and torch.equal(G, G.T)
    torch.testing.assert_close(acc.R, Psi.T @ Y, rtol=1e-13, atol=1e-13)
    P32 = Psi.to(torch.float32).to(torch.float64)
    chunks = sum(P32[s : s + 30].T @ P32[s : s + 30] for s in range(0, 90, 30))
    # float32 products of 30 rows: relative error a few float32 epsilons of the row norms
    scale = 30 * float(Psi.abs().max()) ** 2
    assert float((G - chunks).abs().max()) < 30 * torch.finfo(torch.float32).eps * scale
    # and the rounding is really float32's, not float64's
    assert float((G - Psi.T @ Psi).abs().max()) > 1e3 * torch.finfo(torch.float64).eps * scale


@pytest.mark.parametrize(("threads", "D"), [(1, 12), (2, 12), (2, 1030)])
def test_gram_lower_holds_the_gram_in_its_lower_triangle(threads, D):
    g = torch.Generator().manual_seed(7)
    Psi = torch.randn(50, D, generator=g, dtype=torch.float64)
    acc = NormalEquations(D, 0, dtype=torch.float64, device=torch.device("cpu"))
    try:
        torch.set_num_threads(threads)
        acc.add(Psi)
    finally:
        torch.set_num_threads(1)
    torch.testing.assert_close(acc.gram_lower().tril(), (Psi.T @ Psi).tril(), rtol=1e-12, atol=1e-12)
    # and its Cholesky factor is the one of the mirrored Gram, bit for bit
    L1, _ = ridge_factor(acc.gram_lower(), 0.5)
    L2, _ = ridge_factor(acc.gram(), 0.5)
    assert torch.equal(L1, L2)
