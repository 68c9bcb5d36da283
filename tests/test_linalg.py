"""levrf.linalg: one shifted Cholesky with one jitter policy, used by every caller.

The policy (jitter 10^k·eps·mean|diag|, JitterWarning, LinAlgError with advice) is tested in
test_ridge_solvers.py through cholesky_solve; here: the shifted form, and that the callers that
used their own variants (leverage scores, Nyström, NTK ridge) now follow it.
"""

import warnings

import numpy as np
import pytest
import torch

import levrf
from levrf.leverage.approximate import NystromLeverage
from levrf.leverage.scores import ExactLeverage
from levrf.linalg import JitterWarning, cholesky_factor, shifted_cholesky, solve_with_factor

EPS = torch.finfo(torch.float64).eps


def spd(n, seed=0):
    A = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return A @ A.T + n * torch.eye(n, dtype=torch.float64)


def duplicated_rows():
    """Six inputs, each twice: K(X, X) has rank ≤ 6 of 12, so K + αI is singular for tiny α."""
    X = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    X = torch.cat([X, X]) / 3.0
    return X / X.norm(dim=1, keepdim=True)


def test_shifted_cholesky_is_the_factor_of_k_plus_shift_and_leaves_k_alone():
    K = spd(8)
    before = K.clone()
    L, jitter = shifted_cholesky(K, 0.5)
    assert jitter == 0.0
    torch.testing.assert_close(K, before, rtol=0, atol=0)
    torch.testing.assert_close(L, torch.linalg.cholesky(K + 0.5 * torch.eye(8, dtype=torch.float64)), rtol=0, atol=0)


def test_no_jitter_mode_raises_at_once_and_bad_inputs_are_named():
    A = torch.ones(4, 4, dtype=torch.float64)  # rank 1: the first jitter would factor it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(np.linalg.LinAlgError, match="Gram is not numerically positive definite; increase alpha"):
            cholesky_factor(A, what="Gram", jitter=False)
    with pytest.raises(TypeError, match="Gram must be a torch.Tensor"):
        cholesky_factor(np.eye(3), what="Gram")
    with pytest.raises(TypeError, match="floating-point"):
        cholesky_factor(torch.eye(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="square"):
        shifted_cholesky(torch.ones(2, 3, dtype=torch.float64), 1.0)


def test_exact_leverage_follows_the_jitter_policy():
    """Defect: ExactLeverage had its own Cholesky, which refused what KernelRidge jitters."""
    X = duplicated_rows()
    kernel = levrf.GaussianKernel(1.0)
    with pytest.warns(JitterWarning, match="K \\+ alpha\\*I was numerically singular"):
        scorer = ExactLeverage(kernel, X, 1e-300)
    assert scorer.jitter > 0
    ratio = scorer.jitter / (EPS * float(kernel(X).diagonal().mean()))
    assert any(abs(ratio - 10.0**k) < 1e-9 * 10.0**k for k in range(6))
    # τ(w) = tr Φ(w)ᵀ (K + (α + jitter) I)⁻¹ Φ(w), the definition on the jittered system
    W = kernel.sample(5, 2, 3)
    K = kernel(X).numpy()
    F = kernel.features(X, W).numpy().reshape(12, -1)
    A = np.linalg.solve(K + (1e-300 + scorer.jitter) * np.eye(12), F)
    expected = (F * A).sum(0).reshape(5, 2).sum(1)
    np.testing.assert_allclose(scorer(W).numpy(), expected, rtol=1e-6)  # cond ~ 1/jitter


def test_ntk_ridge_follows_the_jitter_policy():
    """Defect: ntk_ridge's bare torch.linalg.cholesky let torch's error reach the user."""
    X = duplicated_rows()
    y = torch.sin(3 * X[:, 0])
    with pytest.warns(JitterWarning):
        pred = levrf.nn.ntk_ridge(X, y, alpha=1e-300)
    assert bool(torch.isfinite(pred.train).all())
    # duplicated rows have equal targets: the interpolant reproduces y
    torch.testing.assert_close(pred.train, y, rtol=0, atol=1e-6)


def test_nystrom_adds_no_jitter_it_does_not_need_and_records_the_one_it_does():
    X = torch.randn(50, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    kernel = levrf.GaussianKernel(1.0)
    nys = NystromLeverage(kernel, X, 0.1, rank=10, generator=torch.Generator().manual_seed(0))
    assert nys.jitter == 0.0  # was 1e-12·mean(diag) always
    Xd = torch.cat([X[:5]] * 4)  # every landmark is repeated: α K_rr + K_rn K_nr is singular
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # expected for duplicates: recorded, not warned
        dup = NystromLeverage(kernel, Xd, 1e-300, rank=20, generator=torch.Generator().manual_seed(0))
    assert dup.jitter > 0
    assert bool(torch.isfinite(dup(kernel.sample(4, 2, 0))).all())


@pytest.mark.parametrize("k", [1, 3])
def test_solve_with_factor_solves_the_system(k):
    A = spd(40, seed=3)
    B = torch.randn(40, k, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    L, _ = cholesky_factor(A, what="A")
    X = solve_with_factor(B, L)
    # backward error of a Cholesky solve: a modest multiple of eps·‖A‖·‖X‖
    assert float((A @ X - B).norm()) <= 100 * EPS * float(torch.linalg.matrix_norm(A, 2)) * float(X.norm())
    assert torch.allclose(X, torch.linalg.solve(A, B), rtol=1e-12, atol=0)
