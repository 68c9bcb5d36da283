"""Expectation-form kernels: Monte Carlo against the closed form, scikit-learn equivalence, validation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.gaussian_process.kernels import Matern
from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel

import levrf
from levrf.kernels import ShiftInvariantKernel

D = 5
N_PAIRS = 20
M_MC = 200_000
CHUNK = 25_000  # weights per chunk: (n, CHUNK, d2) float64 tensors stay below ~40 MB
RFF_BANDWIDTH = 1.3


def _rff_sample(m, d, gen):
    """w = (ω, b): ω ~ N(0, σ⁻² I_d), b ~ U[0, 2π) — weights live in R^{d+1}, not R^d."""
    omega = torch.randn(m, d, generator=gen, dtype=torch.float64) / RFF_BANDWIDTH
    phase = 2 * math.pi * torch.rand(m, 1, generator=gen, dtype=torch.float64)
    return torch.cat([omega, phase], dim=1)


def _rff_features(X, W):
    """Rahimi–Recht single-cosine feature φ(x, w) = √2 cos(ωᵀx + b), d2 = 1."""
    return (math.sqrt(2.0) * torch.cos(X @ W[:, :-1].T + W[:, -1])).unsqueeze(-1)


def _rff_exact(X, Z):
    return torch.exp(-torch.cdist(X, Z) ** 2 / (2 * RFF_BANDWIDTH**2))


def function_kernel():
    return levrf.FunctionKernel(sample=_rff_sample, features=_rff_features, exact=_rff_exact)


FEATURE_KERNELS = {
    "gaussian": lambda: levrf.GaussianKernel(1.5),
    "laplacian": lambda: levrf.LaplacianKernel(2.0),
    "matern0.5": lambda: levrf.MaternKernel(nu=0.5, bandwidth=1.5),
    "matern1.5": lambda: levrf.MaternKernel(nu=1.5, bandwidth=1.5),
    "matern2.5": lambda: levrf.MaternKernel(nu=2.5, bandwidth=1.5),
    "arccos0": lambda: levrf.ArcCosineKernel(order=0),
    "arccos1": lambda: levrf.ArcCosineKernel(order=1),
    "relu_ntk": levrf.ReLUNTK,
    "function_rff": function_kernel,
}
ALL_KERNELS = {**FEATURE_KERNELS, "deep_relu_ntk": lambda: levrf.DeepReLUNTK(depth=2)}


def random_pairs(rng, unit_norm: bool):
    """20 pairs (x_i, z_i) spanning near and far pairs; unit rows or norms in [0.3, 2.5]."""
    X = rng.standard_normal((N_PAIRS, D))
    Z = X + rng.uniform(0.1, 2.0, (N_PAIRS, 1)) * rng.standard_normal((N_PAIRS, D))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    if not unit_norm:
        X *= rng.uniform(0.3, 2.5, (N_PAIRS, 1))
        Z *= rng.uniform(0.3, 2.5, (N_PAIRS, 1))
    return X, Z


def monte_carlo_pairs(kernel, X, Z, m, seed):
    """Mean and standard error over m weights w ~ p of φ(x_i, w)ᵀφ(z_i, w), for each pair i."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(X.shape[0], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, m, CHUNK):
        W = kernel.sample(min(CHUNK, m - start), X.shape[1], gen)
        prod = (kernel.features(X, W) * kernel.features(Z, W)).sum(-1)  # (n, chunk)
        total += prod.sum(1)
        total_sq += (prod * prod).sum(1)
    mean = total / m
    var = (total_sq / m - mean * mean).clamp_min(0.0) * m / (m - 1)
    return mean, torch.sqrt(var / m)


@pytest.mark.parametrize("unit_norm", [True, False], ids=["unit", "nonunit"])
@pytest.mark.parametrize("name", list(FEATURE_KERNELS))
def test_monte_carlo_matches_closed_form(name, unit_norm):
    """E_p[φ(x,w)ᵀφ(z,w)] = K(x,z): 200,000 weights, each of 20 pairs within 4 standard errors."""
    kernel = FEATURE_KERNELS[name]()
    rng = np.random.default_rng(7 + int(unit_norm))
    X, Z = random_pairs(rng, unit_norm)
    mean, se = monte_carlo_pairs(kernel, X, Z, M_MC, seed=11)
    exact = torch.stack([kernel(X[i : i + 1], Z[i : i + 1])[0, 0] for i in range(N_PAIRS)])
    z_scores = (mean - exact) / se
    assert bool((se > 0).all())
    assert bool((z_scores.abs() <= 4.0).all()), f"{name}: z = {z_scores.numpy().round(2)}"
    # the test has power: the standard errors are small next to the kernel values' spread
    assert float(se.max()) < 0.05 * float(exact.abs().max())


@pytest.mark.parametrize("name", list(FEATURE_KERNELS))
def test_monte_carlo_at_zero_input(name, rng):
    """The zero vector: the closed form agrees with the features there too."""
    kernel = FEATURE_KERNELS[name]()
    z = rng.standard_normal((1, D))
    X = np.zeros((2, D))
    Z = np.vstack([np.zeros((1, D)), z])
    mean, se = monte_carlo_pairs(kernel, X, Z, 50_000, seed=5)
    exact = torch.stack([kernel(X[i : i + 1], Z[i : i + 1])[0, 0] for i in range(2)])
    assert bool(((mean - exact).abs() <= 4.0 * se + 1e-12).all()), (mean, exact, se)


@pytest.mark.parametrize("bandwidth", [0.4, 1.0, 3.7])
def test_gaussian_equals_sklearn_rbf(bandwidth, rng):
    X, Z = rng.standard_normal((30, 4)), rng.standard_normal((20, 4))
    got = levrf.GaussianKernel(bandwidth)(X, Z).numpy()
    np.testing.assert_allclose(got, rbf_kernel(X, Z, gamma=1.0 / (2 * bandwidth**2)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bandwidth", [0.4, 1.0, 3.7])
def test_laplacian_equals_sklearn_l1(bandwidth, rng):
    """The Laplacian kernel uses the L1 distance, as scikit-learn's laplacian_kernel (γ = 1/σ)."""
    X, Z = rng.standard_normal((30, 4)), rng.standard_normal((20, 4))
    got = levrf.LaplacianKernel(bandwidth)(X, Z).numpy()
    np.testing.assert_allclose(got, laplacian_kernel(X, Z, gamma=1.0 / bandwidth), rtol=0, atol=1e-12)


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
@pytest.mark.parametrize("bandwidth", [0.4, 1.0, 3.7])
def test_matern_equals_sklearn(nu, bandwidth, rng):
    X, Z = rng.standard_normal((30, 4)), rng.standard_normal((20, 4))
    got = levrf.MaternKernel(nu=nu, bandwidth=bandwidth)(X, Z).numpy()
    expected = Matern(length_scale=bandwidth, nu=nu)(X, Z)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_relu_ntk_closed_form_on_unit_vectors(rng):
    """H^cts(x, z) = xᵀz (π − arccos xᵀz) / 2π for unit x, z (the paper's Eq. for H^cts)."""
    X = rng.standard_normal((15, 6))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[1] = X[0]  # θ = 0
    X[2] = -X[0]  # θ = π
    G = np.clip(X @ X.T, -1.0, 1.0)
    expected = G * (np.pi - np.arccos(G)) / (2 * np.pi)
    # atol: arccos is ill-conditioned at θ = 0 (duplicate rows): xᵀx rounded by 1e-16 moves θ by 1.5e-8
    np.testing.assert_allclose(levrf.ReLUNTK()(X).numpy(), expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(levrf.ReLUNTK().diag(X).numpy(), np.full(15, 0.5), rtol=0, atol=1e-15)


def test_arccosine_closed_forms_by_numpy(rng):
    """Cho–Saul formulas without their factor 2, computed independently with NumPy."""
    X = rng.standard_normal((12, 3)) * rng.uniform(0.2, 3.0, (12, 1))
    norms = np.linalg.norm(X, axis=1)
    cos = np.clip(X @ X.T / np.outer(norms, norms), -1.0, 1.0)
    theta = np.arccos(cos)
    k0 = (np.pi - theta) / (2 * np.pi)
    k1 = np.outer(norms, norms) * (np.sin(theta) + (np.pi - theta) * cos) / (2 * np.pi)
    # arccos is ill-conditioned at cos = ±1 (the diagonal): rounding of cos by 1e-16 moves θ by 1e-8
    np.testing.assert_allclose(levrf.ArcCosineKernel(0)(X).numpy(), k0, rtol=0, atol=1e-7)
    np.testing.assert_allclose(levrf.ArcCosineKernel(1)(X).numpy(), k1, rtol=0, atol=1e-7)


@pytest.mark.parametrize("t", [0.0, 1e-9, 1e-6, 1e-3, 1.0, math.pi - 1e-7, math.pi])
def test_relu_kernels_accurate_at_every_angle(t):
    """Pairs at angle t: accurate to 1e-15 even where arccos(cos t) would lose half the digits."""
    x = np.array([[1.0, 0.0, 0.0]])
    z = 2.0 * np.array([[math.cos(t), math.sin(t), 0.0]])
    cos_t = math.cos(t)
    expected = {
        levrf.ArcCosineKernel(0): (math.pi - t) / (2 * math.pi),
        levrf.ArcCosineKernel(1): 2.0 * (math.sin(t) + (math.pi - t) * cos_t) / (2 * math.pi),
        levrf.ReLUNTK(): 2.0 * cos_t * (math.pi - t) / (2 * math.pi),
    }
    for kernel, value in expected.items():
        assert abs(float(kernel(x, z)[0, 0]) - value) < 1e-15, kernel


@pytest.mark.parametrize("name", list(ALL_KERNELS))
def test_kernel_matrix_symmetric_psd_and_diag(name, rng):
    kernel = ALL_KERNELS[name]()
    X = rng.standard_normal((25, D)) * rng.uniform(0.3, 2.5, (25, 1))
    X[0] = 0.0  # a zero row: the special case of angle-based kernels
    K = kernel(X)
    assert K.dtype == torch.float64 and K.shape == (25, 25)
    torch.testing.assert_close(K, K.T, rtol=0, atol=1e-12)
    assert float(torch.linalg.eigvalsh(K).min()) > -1e-9 * float(K.diagonal().max())
    torch.testing.assert_close(kernel.diag(X), K.diagonal(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(ALL_KERNELS))
def test_numpy_torch_pandas_inputs_agree(name, rng):
    kernel = ALL_KERNELS[name]()
    X, Z = rng.standard_normal((6, D)), rng.standard_normal((4, D))
    ref = kernel(X, Z)
    assert isinstance(ref, torch.Tensor) and ref.dtype == torch.float64 and ref.device.type == "cpu"
    torch.testing.assert_close(kernel(torch.from_numpy(X), torch.from_numpy(Z)), ref, rtol=0, atol=0)
    # the frame and the list become new arrays at their own alignment, where BLAS may round the
    # inner products differently: a few eps of the squared row norms, the scale of every K here
    tol = 64 * torch.finfo(torch.float64).eps * float((X**2).sum(1).max())
    torch.testing.assert_close(kernel(pd.DataFrame(X), Z.tolist()), ref, rtol=0, atol=tol)
    torch.testing.assert_close(kernel(X), kernel(X, X), rtol=0, atol=0)


@pytest.mark.parametrize("name", list(FEATURE_KERNELS))
def test_float32_kernel(name, rng):
    kernel64 = FEATURE_KERNELS[name]()
    params = kernel64.get_params()
    if name == "function_rff":
        kernel32 = levrf.FunctionKernel(_rff_sample, _rff_features, _rff_exact, dtype="float32")
    else:
        params["dtype"] = "float32"
        kernel32 = type(kernel64)(**params)
    X = rng.standard_normal((6, D))
    K32 = kernel32(X)
    assert K32.dtype == torch.float32
    torch.testing.assert_close(K32.double(), kernel64(X), rtol=0, atol=1e-5)
    W = kernel32.sample(10, D, 3)
    assert W.dtype == torch.float32
    assert kernel32.features(X, W).dtype == torch.float32


@pytest.mark.parametrize("name", list(FEATURE_KERNELS))
def test_sample_and_features_shapes_and_seeds(name):
    kernel = FEATURE_KERNELS[name]()
    W1, W2, W3 = kernel.sample(50, D, 4), kernel.sample(50, D, 4), kernel.sample(50, D, 5)
    assert torch.equal(W1, W2) and not torch.equal(W1, W3)
    assert torch.equal(W1, kernel.sample(50, D, torch.Generator().manual_seed(4)))
    X = np.random.default_rng(0).standard_normal((7, D))
    F = kernel.features(X, W1)
    assert F.shape == (7, 50, kernel.feature_dim(D))


def test_shift_invariant_features_are_cos_sin(rng):
    """φ(x, w) = [cos wᵀx, sin wᵀx] for the three shift-invariant kernels."""
    X = rng.standard_normal((5, 3))
    for kernel in (levrf.GaussianKernel(1.0), levrf.LaplacianKernel(1.0), levrf.MaternKernel(bandwidth=1.0)):
        assert isinstance(kernel, ShiftInvariantKernel)
        W = kernel.sample(8, 3, 0)
        proj = X @ W.numpy().T
        np.testing.assert_allclose(kernel.features(X, W).numpy(), np.stack([np.cos(proj), np.sin(proj)], -1))


def test_laplacian_spectral_density_is_cauchy_with_scale():
    """Coordinates of p are Cauchy(0, 1/σ): the median of |w| is 1/σ (quartiles of a Cauchy are ±scale)."""
    sigma = 2.5
    W = levrf.LaplacianKernel(sigma).sample(200_000, 2, 1).numpy()
    med = np.median(np.abs(W), axis=0)
    # sd of a sample median of |w| ≈ 1 / (2 f(med) √n) with f the density of |w| at 1/σ: σ/π
    se = 1.0 / (2 * (sigma / np.pi) * np.sqrt(W.shape[0]))
    assert np.all(np.abs(med - 1 / sigma) < 4 * se)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("cls", [levrf.GaussianKernel, levrf.LaplacianKernel])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_bandwidth(cls, bad):
    with pytest.raises(ValueError, match="bandwidth"):
        cls(bad)


@pytest.mark.parametrize("bad", [0.0, -2.0])
def test_bad_matern_bandwidth(bad):
    with pytest.raises(ValueError, match="bandwidth"):
        levrf.MaternKernel(nu=1.5, bandwidth=bad)


def test_bandwidth_must_be_a_number():
    with pytest.raises(TypeError, match="bandwidth"):
        levrf.GaussianKernel("1.0")
    with pytest.raises(TypeError, match="bandwidth"):
        levrf.LaplacianKernel(None)


@pytest.mark.parametrize("bad", [1.0, 0.0, 3.5, "1.5", None])
def test_unknown_nu(bad):
    with pytest.raises(ValueError, match="nu"):
        levrf.MaternKernel(nu=bad)


@pytest.mark.parametrize("bad", [2, -1, 0.5, "1", True])
def test_unknown_order(bad):
    with pytest.raises(ValueError, match="order"):
        levrf.ArcCosineKernel(order=bad)


@pytest.mark.parametrize("name", list(ALL_KERNELS))
def test_bad_inputs_name_the_argument(name, rng):
    kernel = ALL_KERNELS[name]()
    X = rng.standard_normal((4, D))
    nan_X = X.copy()
    nan_X[1, 2] = np.nan
    inf_X = X.copy()
    inf_X[0, 0] = np.inf
    for bad in (nan_X, inf_X):
        with pytest.raises(ValueError, match="X"):
            kernel(bad)
        with pytest.raises(ValueError, match="Z"):
            kernel(X, bad)
    with pytest.raises(ValueError, match="X"):
        kernel(X[0])
    with pytest.raises(ValueError, match="X"):
        kernel(X[None])
    with pytest.raises(ValueError, match="Z"):
        kernel(X, X[:, :3])
    with pytest.raises(TypeError, match="X"):
        kernel(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(TypeError, match="X"):
        kernel(pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}))


@pytest.mark.parametrize("name", list(FEATURE_KERNELS))
def test_bad_sample_and_features_arguments(name):
    kernel = FEATURE_KERNELS[name]()
    for bad in (0, -3):
        with pytest.raises(ValueError, match="m"):
            kernel.sample(bad, D)
        with pytest.raises(ValueError, match="d"):
            kernel.sample(3, bad)
    with pytest.raises(TypeError, match="m"):
        kernel.sample(2.5, D)
    with pytest.raises(TypeError, match="generator"):
        kernel.sample(3, D, "seed")
    X = np.ones((2, D))
    with pytest.raises(ValueError, match="X"):
        kernel.features(np.full((2, D), np.nan), kernel.sample(3, D, 0))
    if name != "function_rff":  # a user kernel's weights may live in another space
        with pytest.raises(ValueError, match="W"):
            kernel.features(X, np.ones((3, D + 1)))


def test_deep_ntk_has_no_features():
    kernel = levrf.DeepReLUNTK(depth=2)
    assert not kernel.has_features
    with pytest.raises(NotImplementedError):
        kernel.sample(3, 2)
    with pytest.raises(NotImplementedError):
        kernel.features(np.ones((2, 2)), np.ones((3, 2)))


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_depth(bad):
    with pytest.raises(ValueError, match="depth"):
        levrf.DeepReLUNTK(depth=bad)
    with pytest.raises(TypeError, match="depth"):
        levrf.DeepReLUNTK(depth=2.0)


def test_function_kernel_validation_and_no_closed_form():
    with pytest.raises(TypeError, match="sample"):
        levrf.FunctionKernel(sample=None, features=_rff_features)
    with pytest.raises(TypeError, match="features"):
        levrf.FunctionKernel(sample=_rff_sample, features=3)
    with pytest.raises(TypeError, match="exact"):
        levrf.FunctionKernel(_rff_sample, _rff_features, exact="rbf")
    kernel = levrf.FunctionKernel(_rff_sample, _rff_features)
    assert kernel.feature_dim(D) == 1
    with pytest.raises(NotImplementedError):
        kernel(np.ones((2, D)))
    with pytest.raises(NotImplementedError):
        kernel.diag(np.ones((2, D)))
    bad = levrf.FunctionKernel(lambda m, d, g: torch.zeros(m + 1, d), _rff_features)
    with pytest.raises(ValueError, match="sample"):
        bad.sample(3, D)
    bad = levrf.FunctionKernel(_rff_sample, lambda X, W: torch.zeros(X.shape[0], W.shape[0]))
    with pytest.raises(ValueError, match="features"):
        bad.features(np.ones((2, D)), bad.sample(3, D))


def test_kernel_params_repr_and_equality():
    a, b = levrf.MaternKernel(nu=2.5, bandwidth=2.0), levrf.MaternKernel(nu=2.5, bandwidth=2.0)
    assert a == b and hash(a) == hash(b)
    assert a != levrf.MaternKernel(nu=1.5, bandwidth=2.0)
    assert type(a)(**a.get_params()) == a
    assert "MaternKernel(nu=2.5, bandwidth=2.0" in repr(a)


@pytest.mark.parametrize("kernel", [
    levrf.GaussianKernel(1.3), levrf.LaplacianKernel(0.8), levrf.MaternKernel(1.5, 2.0),
    levrf.ArcCosineKernel(1), levrf.ReLUNTK(), levrf.DeepReLUNTK(3),
], ids=lambda k: type(k).__name__)
def test_compute_in_row_blocks_equals_the_whole_evaluation(kernel, rng, monkeypatch):
    """``compute`` takes X in cache-sized row blocks on the CPU; shrunk here to 16-row blocks,
    each pair's value must be the one of the kernel evaluated on all rows at once."""
    import levrf.kernels.base as base

    X, Z = rng.standard_normal((101, 4)), rng.standard_normal((37, 4))
    Xt, Zt = torch.as_tensor(X), torch.as_tensor(Z)
    whole = kernel._exact(Xt, Zt)
    monkeypatch.setattr(base, "COMPUTE_BLOCK_BYTES", 64)
    blocked = kernel.compute(Xt, Zt)
    assert blocked.shape == (101, 37)
    scale = float(whole.abs().max())
    torch.testing.assert_close(blocked, whole, rtol=0, atol=1e3 * torch.finfo(torch.float64).eps * scale)
    if isinstance(kernel, levrf.GaussianKernel):  # and the definition itself, by scikit-learn
        np.testing.assert_allclose(kernel(X, Z).numpy(), rbf_kernel(X, Z, gamma=1 / (2 * 1.3**2)),
                                   rtol=0, atol=1e-13)


@pytest.mark.parametrize("kernel", [levrf.GaussianKernel(1.3), levrf.MaternKernel(2.5, 2.0)],
                         ids=lambda k: type(k).__name__)
def test_compute_into_a_buffer_equals_the_returned_values(kernel, rng, monkeypatch):
    """``compute(X, Z, out=buf)`` writes every row block into ``buf`` (in place for the Gaussian)
    and returns it; the values are those ``compute`` returns without a buffer."""
    import levrf.kernels.base as base

    monkeypatch.setattr(base, "COMPUTE_BLOCK_BYTES", 64)
    Xt, Zt = torch.as_tensor(rng.standard_normal((90, 4))), torch.as_tensor(rng.standard_normal((21, 4)))
    buffer = torch.full((90, 21), float("nan"), dtype=torch.float64)
    got = kernel.compute(Xt, Zt, out=buffer)
    assert got.data_ptr() == buffer.data_ptr()
    torch.testing.assert_close(got, kernel.compute(Xt, Zt), rtol=0, atol=10 * torch.finfo(torch.float64).eps)


def test_cancelled_pairs_screen_finds_exactly_the_cancelled_pairs(rng):
    """The screened search of the pairs whose expansion ‖x‖² + ‖z‖² − 2xᵀz cancelled returns the
    same pairs as the direct test on the whole matrix, for a sparse hit pattern (a few repeated
    rows) and a dense one (every row repeated, the whole-matrix branch)."""
    from levrf.kernels.base import _CANCELLED, cancelled_pairs

    for repeats in (3, 60):
        Z = torch.as_tensor(rng.standard_normal((50, 5)))
        X = torch.as_tensor(rng.standard_normal((64, 5)))
        X[:repeats] = Z[torch.arange(repeats) % 50] + 1e-9
        x2, z2 = (X * X).sum(1), (Z * Z).sum(1)
        sq = (x2[:, None] + z2[None, :] - 2 * X @ Z.T).clamp_min(0)
        rows, cols = cancelled_pairs(sq, x2, z2)
        expected = (sq <= _CANCELLED * (x2[:, None] + z2[None, :])).nonzero(as_tuple=True)
        got = sorted(zip(rows.tolist(), cols.tolist(), strict=True))
        assert got == sorted(zip(expected[0].tolist(), expected[1].tolist(), strict=True))
        assert len(got) >= repeats


@pytest.mark.parametrize("kernel", [levrf.GaussianKernel(1.3), levrf.MaternKernel(2.5, 2.0), levrf.ReLUNTK()],
                         ids=lambda k: type(k).__name__)
def test_compute_with_prepared_columns_equals_compute(kernel, rng, monkeypatch):
    """A caller that evaluates many row chunks against the same Z passes ``prepare(Z)`` to
    ``compute``: the values equal those without it, for a chunk computed whole and for one taken
    in row blocks; kernels without a preparation return ``None`` and ignore it."""
    import levrf.kernels.base as base

    monkeypatch.setattr(base, "COMPUTE_BLOCK_BYTES", 64)
    Z = torch.as_tensor(rng.standard_normal((21, 4)))
    prepared = kernel.prepare(Z)
    assert (prepared is None) == isinstance(kernel, levrf.ReLUNTK)
    for n in (5, 90):  # whole (n ≤ two blocks), blocked
        X = torch.as_tensor(rng.standard_normal((n, 4)))
        got = kernel.compute(X, Z, prepared=prepared)
        torch.testing.assert_close(got, kernel._exact(X, Z), rtol=0, atol=100 * torch.finfo(torch.float64).eps)
        buffer = torch.empty(n, 21, dtype=torch.float64)
        assert kernel.compute(X, Z, out=buffer, prepared=prepared).data_ptr() == buffer.data_ptr()
        torch.testing.assert_close(buffer, got, rtol=0, atol=100 * torch.finfo(torch.float64).eps)
