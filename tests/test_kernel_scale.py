"""Shift-invariant kernels at any scale: inputs of norm 1e8, extreme bandwidths, no NaN.

References are independent of levrf's distance code: scikit-learn on data translated by an
offset that makes the subtraction exact (Sterbenz: x − c is exact when c/2 ≤ x ≤ 2c), or the
definition ``Σ_k (x_k − z_k)²`` summed directly in NumPy.
"""

import math

import numpy as np
import pytest
import torch
from sklearn.gaussian_process.kernels import Matern
from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel

import levrf

SIGMA = 1.5
SHIFT = 1e8
SHIFT_INVARIANT = {
    "gaussian": lambda s=SIGMA, **kw: levrf.GaussianKernel(s, **kw),
    "laplacian": lambda s=SIGMA, **kw: levrf.LaplacianKernel(s, **kw),
    "matern0.5": lambda s=SIGMA, **kw: levrf.MaternKernel(0.5, s, **kw),
    "matern1.5": lambda s=SIGMA, **kw: levrf.MaternKernel(1.5, s, **kw),
    "matern2.5": lambda s=SIGMA, **kw: levrf.MaternKernel(2.5, s, **kw),
}
#: float64 limits of the bandwidth: σ² and 1/σ² must both be normal float64 numbers
SMALLEST, LARGEST = 2.0**-511, 2.0**511


def reference(name, X, Z):
    """scikit-learn's kernel matrix for the same points (translated exactly where it would cancel)."""
    if name == "gaussian":
        return rbf_kernel(X, Z, gamma=1.0 / (2 * SIGMA**2))
    if name == "laplacian":
        return laplacian_kernel(X, Z, gamma=1.0 / SIGMA)
    return Matern(length_scale=SIGMA, nu=float(name[len("matern"):]))(X, Z)


def shifted_cluster(rng, n, d):
    """Unit-scale points around a centre of norm 1e8, and the exact translation back to the origin."""
    centre = np.full(d, SHIFT / math.sqrt(d))
    X = rng.standard_normal((n, d)) + centre
    local = X - centre
    assert np.array_equal(local + centre, X)  # the translation is exact (Sterbenz)
    return X, local


def direct_sq_distances(X, Z):
    return ((X[:, None, :] - Z[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
def test_diagonal_is_one_at_norm_1e8(name, rng):
    """Rows of norm 1e8 in random directions: ‖x‖² + ‖x‖² − 2xᵀx cancels; K(x, x) must stay 1."""
    X = rng.standard_normal((50, 8))
    X *= SHIFT / np.linalg.norm(X, axis=1, keepdims=True)
    K = SHIFT_INVARIANT[name]()(X)
    np.testing.assert_allclose(K.diagonal().numpy(), 1.0, rtol=0, atol=1e-12)
    # rows 1e8 apart in random directions: the kernel underflows to 0 off the diagonal
    assert float((K - torch.diag(K.diagonal())).abs().max()) == 0.0


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
def test_cluster_at_norm_1e8_equals_sklearn(name, rng):
    """A unit-scale cluster at norm 1e8: every entry of K(X, Z) to a relative 1e-10."""
    X, X_local = shifted_cluster(rng, 40, 5)
    Z, Z_local = shifted_cluster(rng, 30, 5)
    kernel = SHIFT_INVARIANT[name]()
    expected = reference(name, X_local, Z_local)
    assert expected.min() > 1e-8  # values where a relative comparison is meaningful
    np.testing.assert_allclose(kernel(X, Z).numpy(), expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(kernel(X).numpy(), reference(name, X_local, X_local), rtol=1e-10, atol=0)
    if name == "laplacian":  # scikit-learn's L1 distance is direct: exact on the raw points too
        np.testing.assert_allclose(kernel(X, Z).numpy(), laplacian_kernel(X, Z, gamma=1 / SIGMA), rtol=1e-10)


@pytest.mark.parametrize("name", ["gaussian", "matern0.5", "matern1.5", "matern2.5"])
def test_near_pairs_in_widely_spread_data(name, rng):
    """Points 1e8 apart, each with a unit-scale neighbour: centring cannot help, the pair must be
    recomputed directly. Compared with the definition Σ_k (x_k − z_k)² summed in NumPy."""
    X = rng.standard_normal((30, 6))
    X *= SHIFT / np.linalg.norm(X, axis=1, keepdims=True)
    Z = X + rng.standard_normal(X.shape)
    r2 = direct_sq_distances(X, Z) / SIGMA**2
    if name == "gaussian":
        expected = np.exp(-r2 / 2)
    else:
        nu = float(name[len("matern"):])
        s = math.sqrt(2 * nu) * np.sqrt(r2)
        poly = {0.5: 1.0, 1.5: 1.0 + s, 2.5: 1.0 + s + s * s / 3.0}[nu]
        expected = poly * np.exp(-s)
    got = SHIFT_INVARIANT[name]()(X, Z).numpy()
    near = np.eye(30, dtype=bool)
    np.testing.assert_allclose(got[near], expected[near], rtol=1e-10, atol=0)
    assert np.abs(got[~near]).max() == 0.0 and np.abs(expected[~near]).max() == 0.0


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
def test_exact_krr_invariant_to_a_shift_of_1e8(name, rng):
    """KernelRidge on X + 1e8 predicts what it predicts on X (the same points, translated exactly).

    Tolerance: kernel entries are exact to ~10 eps; the solve multiplies that by
    cond(K + αI) ≤ (n + α)/α = 601, so 1e-9 of the label scale leaves a margin of ~1e3.
    """
    X, X_local = shifted_cluster(rng, 60, 3)
    T, T_local = shifted_cluster(rng, 25, 3)
    y = np.sin(X_local).sum(1)
    kernel = SHIFT_INVARIANT[name]()
    far = levrf.KernelRidge(kernel, alpha=0.1).fit(X, y).predict(T)
    near = levrf.KernelRidge(kernel, alpha=0.1).fit(X_local, y).predict(T_local)
    assert np.abs(near).max() > 0.1
    np.testing.assert_allclose(far, near, rtol=0, atol=1e-9 * np.abs(y).max())


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
def test_features_at_norm_1e8_are_finite(name, rng):
    """cos(wᵀx) at |wᵀx| ~ 1e8 is ill-conditioned (documented), but never NaN or inf."""
    X, _ = shifted_cluster(rng, 20, 4)
    kernel = SHIFT_INVARIANT[name]()
    F = kernel.features(X, kernel.sample(64, 4, 0))
    assert bool(torch.isfinite(F).all())
    torch.testing.assert_close((F * F).sum(-1), torch.ones(20, 64, dtype=torch.float64), rtol=0, atol=1e-15)


# ------------------------------------------------------------------ bandwidth range
@pytest.mark.parametrize("cls", [levrf.GaussianKernel, levrf.LaplacianKernel, levrf.MaternKernel])
@pytest.mark.parametrize("bad", [1e-300, 1e200, SMALLEST / 2, LARGEST * 2])
def test_bandwidth_outside_float64_range_is_refused(cls, bad):
    """1e-300 gave a NaN diagonal and 1e200 an OverflowError; now the range is named."""
    with pytest.raises(ValueError, match=r"bandwidth must be a finite number in \[1\.49.*e-154, 6\.70.*e\+153\]"):
        cls(bandwidth=bad)


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_valid_bandwidths_give_the_limits(name, dtype, rng):
    """At the ends of the range K is the identity (σ → 0) or all ones (σ → ∞), with no NaN."""
    X = rng.standard_normal((7, 3))
    eye = torch.eye(7, dtype=torch.float64)
    tiny = SHIFT_INVARIANT[name](SMALLEST, dtype=dtype)(X).double()
    huge = SHIFT_INVARIANT[name](LARGEST, dtype=dtype)(X).double()
    torch.testing.assert_close(tiny, eye, rtol=0, atol=0)
    torch.testing.assert_close(huge, torch.ones_like(eye), rtol=0, atol=0)


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
def test_extreme_bandwidth_features_are_finite_or_refused(name, rng):
    """Weights at σ = 2⁻⁵¹¹ are ~1e154: finite features on unit inputs; an overflowing wᵀx is
    refused with a message naming X and W instead of returning cos(inf) = NaN."""
    kernel = SHIFT_INVARIANT[name](SMALLEST)
    W = kernel.sample(16, 3, 0)
    assert bool(torch.isfinite(W).all())
    assert bool(torch.isfinite(kernel.features(rng.standard_normal((5, 3)), W)).all())
    with pytest.raises(ValueError, match="X @ W.T"):
        kernel.features(np.full((2, 3), 1e200), W)
    rf = levrf.RandomFeatures(kernel, n_features=8, random_state=0).fit(np.full((2, 3), 1e200))
    with pytest.raises(ValueError, match="X @ W.T"):
        rf.transform(np.full((2, 3), 1e200))


@pytest.mark.parametrize("name", list(SHIFT_INVARIANT))
def test_weights_beyond_float32_are_refused(name):
    """σ = 2⁻⁵¹¹ in float32: w ~ 1/σ ≈ 1e154 is not a float32; sample used to return inf weights."""
    kernel = SHIFT_INVARIANT[name](SMALLEST, dtype="float32")
    with pytest.raises(ValueError, match="weights drawn from p are not finite in torch.float32"):
        kernel.sample(8, 3, 0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.5, 0.0, True, "1.5", None])
def test_matern_nu_must_be_a_supported_positive_number(bad):
    with pytest.raises(ValueError, match=r"nu must be a finite number > 0, one of \(0\.5, 1\.5, 2\.5\)"):
        levrf.MaternKernel(nu=bad)


def test_row_blocks_against_prepared_columns_at_any_scale(rng, monkeypatch):
    """``compute`` prepares Z once (:class:`DistanceColumns`: its exponent and centre) and reuses
    it for every row block of X. Blocks of X at Z's scale, blocks 2¹⁰⁰ times larger (they need a
    larger exponent: recomputed from both sides) and blocks holding exact copies of Z's rows far
    from the centre (cancelled pairs, distance exactly 0) must all give the definition
    Σ_k (x_k − z_k)² summed directly in NumPy, to (d + 2)·eps·2¹⁰ relative."""
    import levrf.kernels.base as base

    d = 5
    Z = rng.standard_normal((40, d)) * 3.0 + 50.0
    X = rng.standard_normal((96, d)) * 3.0 + 50.0
    X[32:48] *= 2.0**100                                 # a block far larger than Z
    X[64:80] = Z[rng.integers(0, 40, 16)]                # copies of Z's rows
    monkeypatch.setattr(base, "COMPUTE_BLOCK_BYTES", 4 * 40 * 8)  # the Gaussian takes 4×: 16-row blocks
    Xt, Zt = torch.as_tensor(X), torch.as_tensor(Z)
    columns = base.DistanceColumns(Zt)
    expected = direct_sq_distances(X, Z)
    tol = (d + 2) * np.finfo(np.float64).eps * 2**10
    for start in range(0, 96, 16):
        got = base.scaled_sq_distances(Xt[start : start + 16], Zt, 1.0, columns=columns).numpy()
        np.testing.assert_allclose(got, expected[start : start + 16], rtol=tol, atol=0)
    copies = expected[64:80] == 0
    assert copies.sum() >= 16
    # and through compute: the Gaussian with its −½ folded into the scaling pass
    gaussian = levrf.GaussianKernel(SIGMA)
    K = gaussian.compute(Xt, Zt).numpy()
    np.testing.assert_allclose(K, np.exp(-expected / (2 * SIGMA**2)), rtol=1e-10, atol=1e-300)
    assert (K[64:80][copies] == 1.0).all()
