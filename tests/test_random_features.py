"""RandomFeatures with Gaussian sampling: the m^{-1/2} map of Def. 3.2, seeds, chunks, validation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import levrf


@pytest.fixture
def X(rng):
    return rng.standard_normal((30, 4))


KERNELS = {
    "gaussian": lambda: levrf.GaussianKernel(1.5),
    "matern1.5": lambda: levrf.MaternKernel(nu=1.5, bandwidth=2.0),
    "arccos1": lambda: levrf.ArcCosineKernel(order=1),
    "relu_ntk": levrf.ReLUNTK,
}


@pytest.mark.parametrize("name", list(KERNELS))
def test_psi_is_scaled_feature_map(name, X):
    """Ψ = m^{-1/2} [φ(x_i, w_r)]_r with w_r = weights_, blocks of d2 columns per weight."""
    kernel = KERNELS[name]()
    m = 17
    rf = levrf.RandomFeatures(kernel, n_features=m, random_state=3).fit(X)
    Psi = rf.transform(X)
    d2 = kernel.feature_dim(X.shape[1])
    assert isinstance(Psi, np.ndarray) and Psi.dtype == np.float64 and Psi.shape == (30, m * d2)
    assert rf.weights_.shape == (m, 4) and rf.n_output_features_ == m * d2
    torch.testing.assert_close(rf.importance_, torch.ones(m, dtype=torch.float64), rtol=0, atol=0)
    expected = kernel.features(X, rf.weights_).reshape(30, m * d2).numpy() / math.sqrt(m)
    np.testing.assert_allclose(Psi, expected, rtol=0, atol=1e-15)
    # the weights are draws from p: the kernel's own sampler with the same seed
    torch.testing.assert_close(rf.weights_, kernel.sample(m, 4, 3), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["gaussian", "relu_ntk"])
def test_psi_psi_t_converges_to_k(name, X):
    """E[ΨΨᵀ] = K: with m = 20,000 every entry is within 4 standard errors of the closed form.

    The SE of entry (i, j) is the sample standard deviation of φ(x_i, w)ᵀφ(x_j, w) over the
    m weights, divided by sqrt(m).
    """
    kernel = KERNELS[name]()
    m = 20_000
    rf = levrf.RandomFeatures(kernel, n_features=m, random_state=8).fit(X)
    Psi = rf.transform(X)
    F = kernel.features(X, rf.weights_).numpy()  # (n, m, d2)
    prods = np.einsum("imk,jmk->ijm", F, F)
    se = prods.std(axis=2, ddof=1) / math.sqrt(m)
    K = kernel(X).numpy()
    err = np.abs(Psi @ Psi.T - K)
    off = ~np.eye(30, dtype=bool)  # Gaussian diagonal: φᵀφ = 1 exactly, SE 0
    assert np.all(err[off] <= 4 * se[off])
    assert np.all(err <= 4 * se + 1e-12)


def test_same_seed_same_psi_different_seed_different(X):
    kernel = levrf.GaussianKernel(1.0)
    a = levrf.RandomFeatures(kernel, n_features=50, random_state=1).fit_transform(X)
    b = levrf.RandomFeatures(kernel, n_features=50, random_state=1).fit_transform(X)
    c = levrf.RandomFeatures(kernel, n_features=50, random_state=2).fit_transform(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    # a torch.Generator would make refits differ and the model unsavable: refused (issue 16)
    with pytest.raises(TypeError, match="random_state.*pass an int"):
        levrf.RandomFeatures(kernel, n_features=50, random_state=torch.Generator().manual_seed(1)).fit(X)


def test_default_random_state_is_reproducible(X):
    a = levrf.RandomFeatures(n_features=20).fit_transform(X)
    b = levrf.RandomFeatures(n_features=20).fit_transform(X)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", list(KERNELS))
def test_chunked_transform_equals_unchunked(name, X):
    kernel = KERNELS[name]()
    full = levrf.RandomFeatures(kernel, n_features=40, random_state=5).fit(X)
    chunked = levrf.RandomFeatures(kernel, n_features=40, random_state=5, batch_size=7).fit(X)
    np.testing.assert_allclose(chunked.transform(X), full.transform(X), rtol=0, atol=1e-14)
    starts = [start for start, _ in chunked.iter_chunks(torch.from_numpy(X))]
    assert starts == [0, 7, 14, 21, 28]
    sizes = [block.shape[0] for _, block in chunked.iter_chunks(torch.from_numpy(X))]
    assert sizes == [7, 7, 7, 7, 2]


def test_fit_transform_equals_fit_then_transform(X):
    rf = levrf.RandomFeatures(levrf.LaplacianKernel(2.0), n_features=25, random_state=9)
    np.testing.assert_array_equal(rf.fit_transform(X), clone(rf).fit(X).transform(X))


def test_transform_new_rows_uses_fitted_weights(X, rng):
    rf = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=30, random_state=0).fit(X)
    Y = rng.standard_normal((5, 4))
    expected = rf.kernel_.features(Y, rf.weights_).reshape(5, -1).numpy() / math.sqrt(30)
    np.testing.assert_allclose(rf.transform(Y), expected, rtol=0, atol=1e-15)


def test_pandas_and_torch_inputs(X):
    rf = levrf.RandomFeatures(n_features=10, random_state=0)
    ref = rf.fit_transform(X)
    # each container is converted to a new array at its own memory alignment, and BLAS may round
    # X Wᵀ differently there: equal up to the rounding of cos(Wᵀx + b), |Wᵀx + b| = O(10)
    tol = 64 * np.finfo(np.float64).eps * float(np.abs(ref).max()) * 10
    np.testing.assert_allclose(clone(rf).fit_transform(pd.DataFrame(X)), ref, rtol=0, atol=tol)
    np.testing.assert_allclose(clone(rf).fit(X).transform(X.tolist()), ref, rtol=0, atol=tol)


def test_float32_option(X):
    rf64 = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=20, random_state=0)
    rf32 = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=20, random_state=0, dtype="float32")
    Psi32 = rf32.fit_transform(X)
    assert Psi32.dtype == np.float32
    np.testing.assert_allclose(Psi32, rf64.fit_transform(X), rtol=0, atol=1e-5)


def test_function_kernel_with_weights_in_another_space(X):
    """A user kernel whose weights (ω, b) live in R^{d+1}: single-cosine random Fourier features."""

    def sample(m, d, gen):
        omega = torch.randn(m, d, generator=gen, dtype=torch.float64)
        return torch.cat([omega, 2 * math.pi * torch.rand(m, 1, generator=gen, dtype=torch.float64)], 1)

    def features(A, W):
        return (math.sqrt(2.0) * torch.cos(A @ W[:, :-1].T + W[:, -1])).unsqueeze(-1)

    kernel = levrf.FunctionKernel(sample, features)
    rf = levrf.RandomFeatures(kernel, n_features=6, random_state=0).fit(X)
    assert rf.weights_.shape == (6, 5)
    expected = features(torch.from_numpy(X), rf.weights_).reshape(30, 6).numpy() / math.sqrt(6)
    np.testing.assert_allclose(rf.transform(X), expected, rtol=0, atol=1e-15)


# ------------------------------------------------------------------ validation
def test_column_mismatch_between_fit_and_transform(X):
    rf = levrf.RandomFeatures(n_features=5).fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        rf.transform(X[:, :3])


def test_transform_before_fit(X):
    with pytest.raises(NotFittedError):
        levrf.RandomFeatures().transform(X)


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-5, ValueError), (2.5, TypeError), ("10", TypeError)])
def test_bad_n_features(bad, exc, X):
    with pytest.raises(exc, match="n_features"):
        levrf.RandomFeatures(n_features=bad).fit(X)


@pytest.mark.parametrize("bad,exc", [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                     ("1", TypeError)])
def test_bad_alpha(bad, exc, X):
    with pytest.raises(exc, match="alpha"):
        levrf.RandomFeatures(alpha=bad).fit(X)


def test_bad_batch_size_sampling_kernel(X):
    with pytest.raises(ValueError, match="batch_size"):
        levrf.RandomFeatures(batch_size=0).fit(X)
    with pytest.raises(ValueError, match="sampling"):
        levrf.RandomFeatures(sampling="uniform-ish").fit(X)
    with pytest.raises(TypeError, match="kernel"):
        levrf.RandomFeatures(kernel="rbf").fit(X)
    with pytest.raises(ValueError, match="kernel"):
        levrf.RandomFeatures(kernel=levrf.DeepReLUNTK(depth=2)).fit(X)
    with pytest.raises(TypeError, match="random_state"):
        levrf.RandomFeatures(random_state="seed").fit(X)


def _bad_inputs(X):
    nan_X, inf_X = X.copy(), X.copy()
    nan_X[3, 1] = np.nan
    inf_X[0, 2] = -np.inf
    return {
        "nan": (nan_X, ValueError),
        "inf": (inf_X, ValueError),
        "1d": (X[:, 0], ValueError),
        "3d": (X[None], ValueError),
        "strings": (np.array([["a", "b"], ["c", "d"]]), (ValueError, TypeError)),
        "empty": (np.zeros((0, 4)), ValueError),
    }


@pytest.mark.parametrize("case", ["nan", "inf", "1d", "3d", "strings", "empty"])
def test_bad_X_names_the_argument(case, X):
    bad, exc = _bad_inputs(X)[case]
    with pytest.raises(exc, match=r"\bX\b"):
        levrf.RandomFeatures(n_features=5).fit(bad)
    fitted = levrf.RandomFeatures(n_features=5).fit(X)
    with pytest.raises(exc, match=r"\bX\b"):
        fitted.transform(bad)


def test_feature_names_out_and_set_output_pandas():
    import pandas as pd
    import sklearn

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((30, 3)), columns=["a", "b", "c"])
    rf = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=4, random_state=0).fit(X)
    names = rf.get_feature_names_out()
    assert list(names) == [f"rf{i}" for i in range(8)]
    assert list(rf.get_feature_names_out(["a", "b", "c"])) == list(names)
    with pytest.raises(ValueError, match="input_features"):
        rf.get_feature_names_out(["x", "y", "z"])
    plain = rf.transform(X)
    frame = rf.set_output(transform="pandas").transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)
    np.testing.assert_array_equal(frame.to_numpy(), plain)
    other = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=4, random_state=0).fit(X)
    with sklearn.config_context(transform_output="pandas"):
        globally = other.transform(X)
    assert isinstance(globally, pd.DataFrame) and list(globally.columns) == list(names)


def test_set_output_polars():
    pl = pytest.importorskip("polars")
    X = np.random.default_rng(0).standard_normal((20, 2))
    rf = levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=3, random_state=0).fit(X)
    out = rf.set_output(transform="polars").transform(X)
    assert isinstance(out, pl.DataFrame) and out.columns == [f"rf{i}" for i in range(6)]
