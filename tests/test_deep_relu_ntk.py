"""DeepReLUNTK against the empirical NTK of finite ReLU MLPs, and against the recursion in 50 digits."""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import stats
from torch.func import jacrev

import levrf

WIDTH = 4096
SEEDS = 8
N_INPUTS, D = 4, 5


def mlp(params, X):
    """The parametrization documented in levrf.kernels.relu.DeepReLUNTK (NTK parametrization).

    ``g⁰ = x``, ``g^h = sqrt(2/m) relu(W^h g^{h−1})`` for h = 1..L, ``f = W^{L+1} g^L``; every
    weight N(0, 1), no biases. ``params = [W¹ (m×d), W² (m×m), ..., W^L, w^{L+1} (m,)]``.
    """
    *hidden, out = params
    g = X
    for W in hidden:
        g = math.sqrt(2.0 / W.shape[0]) * torch.relu(g @ W.T)
    return g @ out


def empirical_ntk(params, X):
    """⟨∂f(x_i)/∂θ, ∂f(x_j)/∂θ⟩ over every parameter, from the full Jacobian of each weight."""
    n = X.shape[0]
    ntk = torch.zeros(n, n, dtype=X.dtype)
    for h in range(len(params)):
        J = jacrev(lambda *p: mlp(p, X), argnums=h)(*params).reshape(n, -1)  # (n, #weights of layer h)
        ntk += J @ J.T
    return ntk


@pytest.fixture(scope="module")
def inputs():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(N_INPUTS, D, generator=gen, dtype=torch.float64)
    # non-unit norms, so the test also checks how Θ scales with ‖x‖
    return X * torch.tensor([0.5, 1.0, 1.5, 2.0], dtype=torch.float64)[:, None] / X.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def empirical(inputs):
    """Empirical NTKs of SEEDS independent networks of each depth 1, 2, 3 (width 4096).

    The networks run in float32: rounding (~1e-6 relative) is four orders of magnitude below the
    seed-to-seed spread (~5%) that sets the tolerance, and it halves time and memory. The depth-L
    network of a seed reuses that seed's first L hidden matrices and its output vector.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # memory-bound work: a second thread mostly spins when the cores are shared
    try:
        X = inputs.float()
        ntks = {1: [], 2: [], 3: []}
        for seed in range(SEEDS):
            gen = torch.Generator().manual_seed(100 + seed)
            hidden = [torch.randn(WIDTH, D if h == 0 else WIDTH, generator=gen) for h in range(3)]
            out = torch.randn(WIDTH, generator=gen)
            for depth in ntks:
                ntks[depth].append(empirical_ntk([*hidden[:depth], out], X).double())
    finally:
        torch.set_num_threads(threads)
    return {depth: torch.stack(v) for depth, v in ntks.items()}


@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_closed_form_matches_empirical_ntk(depth, inputs, empirical):
    """|mean over seeds − Θ| ≤ k·SE + 1% |Θ| for every entry.

    SE is the seed-to-seed standard deviation over sqrt(SEEDS). With only 8 seeds the
    standardized error is Student-t with 7 degrees of freedom, not normal, so k is its two-sided
    1e-3 quantile (5.4; 4 would fail about 1 entry in 200 by chance). The 1% allowance covers the
    finite-width bias of the mean NTK, which is O(L/m) ≈ 1e-3 at m = 4096 (exactly zero for L = 1).
    """
    closed = levrf.DeepReLUNTK(depth=depth)(inputs)
    samples = empirical[depth]
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(SEEDS)
    k = stats.t.ppf(1 - 1e-3 / 2, SEEDS - 1)
    tol = k * se + 0.01 * closed.abs()
    assert bool(((mean - closed).abs() <= tol).all()), (
        f"depth {depth}: max |mean − Θ| / SE = {float(((mean - closed).abs() / se).max()):.2f}"
    )
    # the tolerance is tight enough to catch a missing layer term or a wrong factor (≥ 25% changes)
    assert float((tol / closed.abs()).max()) < 0.25


def test_empirical_ntk_diagonal_is_exact_in_expectation(empirical, inputs):
    """Θ^(L)(x, x) = (L + 1)‖x‖²: one ‖x‖² per layer, since Σ^h_xx = ‖x‖² and Σ̇^h_xx = 1."""
    sq = (inputs * inputs).sum(1)
    for depth in (1, 2, 3):
        closed = levrf.DeepReLUNTK(depth=depth)(inputs)
        torch.testing.assert_close(closed.diagonal(), (depth + 1) * sq, rtol=1e-14, atol=0)
        torch.testing.assert_close(levrf.DeepReLUNTK(depth=depth).diag(inputs), (depth + 1) * sq,
                                   rtol=1e-14, atol=0)
        mean_diag = empirical[depth].mean(0).diagonal()
        assert bool(((mean_diag - (depth + 1) * sq).abs() < 0.1 * (depth + 1) * sq).all())


def test_depth_one_is_twice_relu_ntk_plus_arc_cosine(rng):
    """Θ^(1) = xᵀz(π − θ)/π + ‖x‖‖z‖(sin θ + (π − θ)cos θ)/π = 2·ReLUNTK + 2·ArcCosine(order=1)."""
    X = rng.standard_normal((10, 4)) * rng.uniform(0.2, 3.0, (10, 1))
    expected = 2 * levrf.ReLUNTK()(X) + 2 * levrf.ArcCosineKernel(order=1)(X)
    torch.testing.assert_close(levrf.DeepReLUNTK(depth=1)(X), expected, rtol=1e-13, atol=1e-13)


def recursion_50_digits(x, z, depth):
    """Arora et al.'s recursion evaluated the direct way (arccos) in 50-digit arithmetic."""
    mpmath.mp.dps = 50
    x = [mpmath.mpf(float(v)) for v in x]
    z = [mpmath.mpf(float(v)) for v in z]
    nx, nz = mpmath.sqrt(mpmath.fsum(v * v for v in x)), mpmath.sqrt(mpmath.fsum(v * v for v in z))
    sigma = mpmath.fsum(a * b for a, b in zip(x, z, strict=True))
    ntk = sigma
    for _ in range(depth):
        theta = mpmath.acos(sigma / (nx * nz))
        sigma_dot = (mpmath.pi - theta) / mpmath.pi
        sigma = nx * nz * (mpmath.sin(theta) + (mpmath.pi - theta) * mpmath.cos(theta)) / mpmath.pi
        ntk = ntk * sigma_dot + sigma
    return float(ntk)


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
def test_closed_form_is_accurate_to_rounding(depth, rng):
    """Float64 Θ agrees with the 50-digit recursion to 1e-13 relative, nearly equal inputs included.

    Nearly parallel pairs are the hard case: arccos near 1 would lose half the digits.
    """
    X = rng.standard_normal((6, 3))
    Z = np.vstack([X[:3] + 10.0 ** rng.uniform(-9, -5, (3, 1)) * rng.standard_normal((3, 3)),
                   -X[3:4] * 1.7, rng.standard_normal((2, 3))])
    got = levrf.DeepReLUNTK(depth=depth)(X, Z).numpy()
    want = np.array([[recursion_50_digits(x, z, depth) for z in Z] for x in X])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_zero_input_gives_zero_kernel():
    """A zero input zeroes every activation g^h(0) and hence every gradient: Θ(0, z) = 0."""
    X = np.array([[0.0, 0.0], [1.0, 2.0]])
    K = levrf.DeepReLUNTK(depth=3)(X)
    assert K[0].abs().max() == 0 and K[:, 0].abs().max() == 0
