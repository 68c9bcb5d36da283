"""levrf.Nystroem and the Nyström ridge estimators, against closed forms and scikit-learn.

- ψ(x)ᵀψ(z) equals K(x, C) K_CC⁻¹ K(C, z) solved directly (every kernel with a closed form);
- with every row a center, NystromRidge is exact kernel ridge regression (levrf.KernelRidge);
- approximate row leverage (BLESS dictionary) against diag(K (K + αI)⁻¹) computed exactly;
- the center sampler's inclusion frequencies against its inclusion probabilities (Monte Carlo);
- ΨΨᵀ and Nystroem + Ridge predictions equal scikit-learn's on the same centers;
- NystromRidgeCV's leave-one-out errors equal their definition computed from Ψ;
- Dask input equals in-memory input.
"""

import warnings

import numpy as np
import pytest
import torch
from scipy.linalg import cho_factor, cho_solve
from sklearn.kernel_approximation import Nystroem as SkNystroem
from sklearn.linear_model import Ridge

import levrf
from levrf.leverage.centers import (
    approximate_row_leverage,
    exact_row_leverage,
    leverage_centers,
    sample_by_leverage,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPS64 = torch.finfo(torch.float64).eps


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(300)
    return X, y, rng.standard_normal((40, 3))


KERNELS = [
    levrf.GaussianKernel(1.0),
    levrf.LaplacianKernel(1.0),
    levrf.MaternKernel(nu=1.5, bandwidth=1.0),
    levrf.ArcCosineKernel(order=1),
    levrf.ReLUNTK(),
    levrf.DeepReLUNTK(depth=2),
]


# ----------------------------------------------------------------------------- the feature map
@pytest.mark.parametrize("centers", ["uniform", "leverage"])
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
def test_features_reproduce_the_nystroem_kernel(data, kernel, centers):
    X, _, Xt = data
    f = levrf.Nystroem(kernel, n_components=15, centers=centers, alpha=1e-2, random_state=1).fit(X)
    C = f.centers_.numpy()
    np.testing.assert_array_equal(C, X[f.center_indices_.numpy()])
    K_CC = kernel(C, C).numpy()
    # the reference solve is itself accurate to ~eps·cond: 1e-10 needs cond well below 1e6
    assert np.linalg.cond(K_CC) < 1e5
    assert f.n_output_features_ == 15  # nothing dropped from a well-conditioned K_CC
    K_xC, K_zC = kernel(Xt, C).numpy(), kernel(X[:30], C).numpy()
    expected = K_xC @ cho_solve(cho_factor(K_CC), K_zC.T)
    got = f.transform(Xt) @ f.transform(X[:30]).T
    scale = float(np.abs(kernel(Xt, Xt).numpy()).max())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * scale)


def test_normalization_is_an_inverse_square_root_on_the_kept_centers(data):
    X, _, _ = data
    f = levrf.Nystroem(levrf.GaussianKernel(5.0), n_components=100, random_state=0).fit(X)
    K_CC = levrf.GaussianKernel(5.0)(f.centers_).numpy()
    s = f.eigenvalues_.numpy()
    r = f.n_output_features_
    assert 0 < r < 100  # a smooth kernel: numerically low rank
    # at least the eigenvalues far above the pivot tolerance M·eps·s_max are kept: the dropped
    # Schur complement's trace bounds the (r+1)-th eigenvalue
    assert r >= int((s > 100 * 100 * EPS64 * s[0]).sum())
    N = f.normalization_.numpy()
    # Nᵀ K_CC N = I on the kept directions, to the rounding of K (eps·s_max) amplified by ‖N‖²
    tol = 1e3 * EPS64 * s[0] * np.linalg.norm(N, 2) ** 2
    np.testing.assert_allclose(N.T @ K_CC @ N, np.eye(r), rtol=0, atol=tol)
    np.testing.assert_allclose(s, np.sort(np.linalg.eigvalsh(K_CC))[::-1], atol=1e3 * EPS64 * s[0])


def test_psi_gram_equals_sklearn_nystroem_on_the_same_centers(data):
    X, _, Xt = data
    bandwidth = 1.5
    f = levrf.Nystroem(levrf.GaussianKernel(bandwidth), n_components=40, random_state=2).fit(X)
    C = f.centers_.numpy()
    # scikit-learn's Nystroem fitted on the centers alone, with as many components, uses them all
    sk = SkNystroem(kernel="rbf", gamma=1 / (2 * bandwidth**2), n_components=40).fit(C)
    assert f.n_output_features_ == 40
    P, Q = f.transform(Xt), sk.transform(Xt)
    np.testing.assert_allclose(P @ P.T, Q @ Q.T, rtol=0, atol=1e-10)


def test_ridge_equals_sklearn_nystroem_plus_ridge(data):
    X, y, Xt = data
    kernel = levrf.GaussianKernel(1.5)
    model = levrf.NystromRidge(kernel, n_components=40, alpha=1e-2, random_state=3, fit_intercept=False).fit(X, y)
    C = model.features_.centers_.numpy()
    sk = SkNystroem(kernel="rbf", gamma=1 / (2 * 1.5**2), n_components=40).fit(C)
    ref = Ridge(alpha=1e-2, fit_intercept=False, solver="cholesky").fit(sk.transform(X), y)
    np.testing.assert_allclose(model.predict(Xt), ref.predict(sk.transform(Xt)), rtol=0, atol=1e-9)


def test_every_row_a_center_is_exact_kernel_ridge(data):
    X, y, Xt = data
    X, y = X[:150], y[:150]
    kernel, alpha = levrf.LaplacianKernel(1.0), 1e-2
    exact = levrf.KernelRidge(kernel, alpha=alpha).fit(X, y)
    nys = levrf.NystromRidge(kernel, n_components=150, alpha=alpha).fit(X, y)
    s = nys.features_.eigenvalues_.numpy()
    assert nys.features_.n_output_features_ == 150  # the Laplacian K is well conditioned: nothing dropped
    # both solve (K + αI) systems backward-stably: errors ~ eps·κ·‖y‖ with κ = (s_max + α)/α
    kappa = (s[0] + alpha) / alpha
    tol = 10 * EPS64 * kappa * np.linalg.norm(y)
    for Z in (Xt, X):
        np.testing.assert_allclose(nys.predict(Z), exact.predict(Z), rtol=0, atol=tol)
    assert tol < 1e-7


def test_every_row_a_center_differs_from_kernel_ridge_by_the_dropped_kernel(data):
    """With K̃ = ΨΨᵀ ≼ K on the training rows, the fitted values of kernel ridge with K and K̃
    differ by α(K̃ + αI)⁻¹(K − K̃)(K + αI)⁻¹y, at most ‖K − K̃‖₂·‖y‖/α."""
    X, y, Xt = data
    X, y = X[:150], y[:150]
    kernel, alpha = levrf.GaussianKernel(5.0), 1e-3
    exact = levrf.KernelRidge(kernel, alpha=alpha, fit_intercept=False).fit(X, y)
    nys = levrf.NystromRidge(kernel, n_components=150, alpha=alpha, fit_intercept=False).fit(X, y)
    r = nys.features_.n_output_features_
    assert r < 150  # a smooth kernel: numerically rank deficient, pivots were dropped
    K = kernel(X).numpy()
    P = nys.features_.transform(X)
    dropped = float(np.linalg.norm(K - P @ P.T, 2))
    assert dropped < 1e-9  # what the dropped centers left unexplained is at the rounding level
    kappa = (float(np.linalg.eigvalsh(K)[-1]) + alpha) / alpha
    bound = dropped * np.linalg.norm(y) / alpha + 100 * EPS64 * kappa * np.linalg.norm(y)
    gap = np.abs(nys.predict(X) - exact.predict(X)).max()
    assert gap <= bound


# ----------------------------------------------------------------------------- ridge estimators
def test_cv_leave_one_out_equals_its_definition(data):
    X, y, _ = data
    alphas = [1e-3, 1e-2, 1e-1, 1.0]
    cv = levrf.NystromRidgeCV(levrf.GaussianKernel(1.5), alphas=alphas, n_components=60, random_state=4,
                              fit_intercept=False).fit(X, y)
    Psi = cv.features_.transform(X)
    for a, mse in zip(alphas, cv.cv_mse_, strict=True):
        H = Psi @ np.linalg.solve(Psi.T @ Psi + a * np.eye(Psi.shape[1]), Psi.T)
        loo = (y - H @ y) / (1 - np.diag(H))
        np.testing.assert_allclose(mse, np.mean(loo**2), rtol=1e-8)
    best = alphas[int(np.argmin(cv.cv_mse_))]
    assert cv.alpha_ == best
    single = levrf.NystromRidge(levrf.GaussianKernel(1.5), n_components=60, alpha=best, random_state=4,
                                fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(cv.predict(X), single.predict(X), rtol=0, atol=1e-9)


def test_float32_gram_with_refinement_equals_float64(data):
    X, y, Xt = data
    params = dict(kernel=levrf.GaussianKernel(1.5), n_components=60, alpha=1e-2, random_state=0)
    ref = levrf.NystromRidge(**params).fit(X, y)
    model = levrf.NystromRidge(**params, gram_dtype="float32").fit(X, y)
    assert model.refine_residuals_  # the refinement ran
    np.testing.assert_allclose(model.predict(Xt), ref.predict(Xt), rtol=0, atol=1e-6)


def test_classifier_is_the_regression_of_signed_labels(data):
    X, y, Xt = data
    labels = np.where(y > 0, "pos", "neg")
    params = dict(kernel=levrf.GaussianKernel(1.5), n_components=50, alpha=1e-1, centers="leverage", random_state=0)
    clf = levrf.NystromRidgeClassifier(**params).fit(X, labels)
    reg = levrf.NystromRidge(**params).fit(X, np.where(labels == "pos", 1.0, -1.0))
    np.testing.assert_allclose(clf.decision_function(Xt), reg.predict(Xt), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(Xt), np.where(reg.predict(Xt) > 0, "pos", "neg"))


def test_same_seed_same_centers_and_different_seed_different_centers(data):
    X, _, _ = data
    for centers in ("uniform", "leverage"):
        a = levrf.Nystroem(n_components=20, centers=centers, random_state=7).fit(X)
        b = levrf.Nystroem(n_components=20, centers=centers, random_state=7).fit(X)
        c = levrf.Nystroem(n_components=20, centers=centers, random_state=8).fit(X)
        assert torch.equal(a.center_indices_, b.center_indices_)
        assert not torch.equal(a.center_indices_, c.center_indices_)


# ----------------------------------------------------------------------------- leverage centers
@pytest.mark.parametrize("alpha", [1e-1, 1e-2])
def test_approximate_row_leverage_is_within_a_factor_of_exact(alpha):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 3))
    X[:10] *= 4  # a few outlying rows of high leverage
    kernel = levrf.GaussianKernel(1.0)
    exact = exact_row_leverage(kernel, X, alpha).numpy()
    s_alpha = exact.sum()
    size = int(np.ceil(4 * s_alpha))  # a dictionary of 4× the statistical dimension (OVERSAMPLING)
    for seed in range(3):
        scores, dictionary, info = approximate_row_leverage(
            kernel, X, alpha, dictionary_size=size, generator=torch.Generator().manual_seed(seed)
        )
        assert dictionary.size <= size and info["levels"][-1] == alpha
        ratio = scores / exact
        # measured: ratios in [0.74, 1.78] over these seeds and alphas (exact at alpha=1e-2, where
        # 4·s_alpha > n puts every row in the dictionary); stated factor 2. Musco & Musco (2017,
        # Lemma 6) bound a spectral-approximating dictionary's estimates to [ℓ, 3ℓ].
        assert 0.5 <= ratio.min() and ratio.max() <= 2.0, (ratio.min(), ratio.max())
        assert abs(scores.sum() / s_alpha - 1) < 0.25


def test_exact_row_leverage_is_the_hat_diagonal():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2))
    kernel, alpha = levrf.MaternKernel(nu=2.5, bandwidth=0.7), 0.05
    K = kernel(X).numpy()
    expected = np.diag(K @ np.linalg.inv(K + alpha * np.eye(60)))
    np.testing.assert_allclose(exact_row_leverage(kernel, X, alpha).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_isolated_rows_have_leverage_one_over_one_plus_alpha_and_are_always_centers():
    rng = np.random.default_rng(2)
    cluster = 0.05 * rng.standard_normal((400, 2))
    far = 100.0 * np.column_stack([np.arange(1, 11), np.zeros(10)])  # K(far_i, ·) = e_i up to e^-5000
    X = np.vstack([cluster, far])
    alpha = 0.1
    # K(far_i, ·) = e_i: against any dictionary that leaves row i out, t_i = K_ii = 1, so
    # ℓ_i = 1/(1 + α) exactly, whether or not row i is in the dictionary (leave-one-out)
    for size in (20, 205):
        scores, _, _ = approximate_row_leverage(levrf.GaussianKernel(1.0), X, alpha, dictionary_size=size,
                                                generator=torch.Generator().manual_seed(1))
        np.testing.assert_allclose(scores[400:], 1 / (1 + alpha), rtol=1e-12)
    for seed in range(3):
        f = levrf.Nystroem(levrf.GaussianKernel(1.0), n_components=20, centers="leverage", alpha=alpha,
                           random_state=seed).fit(X)
        assert set(range(400, 410)) <= set(f.center_indices_.tolist())
        u = levrf.Nystroem(levrf.GaussianKernel(1.0), n_components=20, random_state=seed).fit(X)
        assert len(set(range(400, 410)) & set(u.center_indices_.tolist())) < 10


def test_center_sampler_inclusion_frequencies_match_the_scores():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 2))
    X[:3] *= 5
    scores, _, _ = approximate_row_leverage(levrf.GaussianKernel(1.0), X, 0.1, dictionary_size=50,
                                            generator=torch.Generator().manual_seed(0))
    scores = torch.from_numpy(scores)
    m, draws = 24, 20_000  # Σℓ ≈ 18: the highest scores reach π = 1
    gen = torch.Generator().manual_seed(1)
    counts = torch.zeros(50, dtype=torch.float64)
    for _ in range(draws):
        index, pi = sample_by_leverage(scores, m, gen)
        assert index.numel() == m  # exactly m distinct rows
        counts[index] += 1
    assert abs(float(pi.sum()) - m) < 1e-9
    free = pi < 1
    assert (~free).any() and free.sum() > 2  # some rows taken for sure, the others by chance
    ratio = pi[free] / scores[free]
    np.testing.assert_allclose(ratio.numpy(), float(ratio[0]), rtol=1e-12)  # π ∝ ℓ below the cap
    # binomial standard errors; 4.5σ over 50 rows: a false alarm has probability ~3e-4
    se = torch.sqrt(pi * (1 - pi) / draws)
    assert bool((((counts / draws) - pi).abs() <= 4.5 * se + 1.0 / draws).all())


def test_leverage_centers_include_each_row_with_its_probability_on_average():
    """Through the whole pipeline (random dictionary, then the sample): E[1{i ∈ S} − π_i] = 0,
    since P(i ∈ S | dictionary) = π_i; the conditional variance π_i(1 − π_i) bounds its error."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 2))
    draws = 300
    diff = torch.zeros(40, dtype=torch.float64)
    var = torch.zeros(40, dtype=torch.float64)
    for seed in range(draws):
        sample = leverage_centers(levrf.GaussianKernel(0.8), X, 6, 1e-2, dictionary_size=12,
                                  generator=torch.Generator().manual_seed(seed))
        # the same steps by hand give every row's π (leverage_centers returns the centers' only)
        gen = torch.Generator().manual_seed(seed)
        scores, _, _ = approximate_row_leverage(levrf.GaussianKernel(0.8), X, 1e-2, dictionary_size=12, generator=gen)
        index, pi = sample_by_leverage(torch.from_numpy(scores), 6, gen)
        assert torch.equal(index, sample.index)
        np.testing.assert_allclose(sample.probability.numpy(), pi[index].numpy(), rtol=1e-15)
        diff[index] += 1
        diff -= pi
        var += pi * (1 - pi)
    se = torch.sqrt(var) / draws
    assert bool(((diff / draws).abs() <= 4.5 * se + 1.0 / draws).all())


# ----------------------------------------------------------------------------- Dask
def test_dask_input_equals_in_memory(data):
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, y, Xt = data
    Xd, yd = da.from_array(X, chunks=(70, 3)), da.from_array(y, chunks=90)
    with dask.config.set(scheduler="threads"):
        for centers in ("uniform", "leverage"):
            params = dict(kernel=levrf.GaussianKernel(1.5), n_components=40, centers=centers, alpha=1e-2, random_state=5)
            ref = levrf.Nystroem(**params).fit(X)
            dist = levrf.Nystroem(**params).fit(Xd)
            assert torch.equal(ref.center_indices_, dist.center_indices_)
            np.testing.assert_allclose(np.asarray(dist.transform(da.from_array(Xt, chunks=(15, 3)))),
                                       ref.transform(Xt), rtol=0, atol=1e-8)
            model = levrf.NystromRidge(**params).fit(Xd, yd)
            ref_model = levrf.NystromRidge(**params).fit(X, y)
            np.testing.assert_allclose(np.asarray(model.predict(Xt)), ref_model.predict(Xt), rtol=0, atol=1e-8)
            cv = levrf.NystromRidgeCV(alphas=[1e-2, 1e-1], **{k: v for k, v in params.items() if k != "alpha"}).fit(Xd, yd)
            cv_ref = levrf.NystromRidgeCV(alphas=[1e-2, 1e-1], **{k: v for k, v in params.items() if k != "alpha"}).fit(X, y)
            np.testing.assert_allclose(cv.cv_mse_, cv_ref.cv_mse_, rtol=1e-8)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 2.5}, TypeError, "n_components"),
        ({"centers": "kmeans"}, ValueError, "centers"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"kernel": "rbf"}, TypeError, "kernel"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
@pytest.mark.parametrize("cls", [levrf.Nystroem, levrf.NystromRidge, levrf.NystromRidgeClassifier])
def test_bad_parameters_raise_at_fit(cls, params, error, match):
    X = np.random.default_rng(0).standard_normal((20, 2))
    y = np.arange(20) % 2
    with pytest.raises(error, match=match):
        cls(**params).fit(X, y)


def test_cv_bad_parameters_raise_at_fit():
    X = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match="centers"):
        levrf.NystromRidgeCV(centers="x").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="alphas"):
        levrf.NystromRidgeCV(alphas=[-1.0]).fit(X, X[:, 0])


def test_kernel_without_closed_form_is_refused():
    kernel = levrf.FunctionKernel(sample=lambda m, d, g: torch.randn(m, d, generator=g, dtype=torch.float64),
                                  features=lambda X, W: torch.cos(X @ W.T)[..., None])
    X = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match="closed form"):
        levrf.Nystroem(kernel, n_components=5).fit(X)


def test_more_components_than_rows_warns_and_uses_every_row():
    X = np.random.default_rng(0).standard_normal((12, 2))
    with pytest.warns(UserWarning, match="n_components=50 > n_samples=12"):
        f = levrf.Nystroem(n_components=50, centers="leverage").fit(X)
    assert f.center_indices_.tolist() == list(range(12))


def test_float32_features_are_float32_and_close_to_float64(data):
    X, _, Xt = data
    f64 = levrf.Nystroem(levrf.LaplacianKernel(1.0), n_components=30, random_state=0).fit(X)
    f32 = levrf.Nystroem(levrf.LaplacianKernel(1.0), n_components=30, random_state=0, dtype="float32").fit(X)
    P32, P64 = f32.transform(Xt), f64.transform(Xt)
    assert P32.dtype == np.float32
    cond = float(f64.eigenvalues_[0] / f64.eigenvalues_[-1])
    tol = 30 * torch.finfo(torch.float32).eps * cond  # rounding of K (eps32) amplified by cond(K_CC)
    np.testing.assert_allclose(P32 @ P32.T, P64 @ P64.T, rtol=0, atol=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        levrf.NystromRidge(levrf.LaplacianKernel(1.0), n_components=30, dtype="float32").fit(X, X[:, 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("centers", ["uniform", "leverage"])
def test_cuda_equals_cpu(data, centers):
    X, y, Xt = data
    params = dict(kernel=levrf.GaussianKernel(1.5), n_components=60, centers=centers, alpha=1e-2, random_state=0)
    cpu = levrf.NystromRidge(**params).fit(X, y)
    gpu = levrf.NystromRidge(**params, device="cuda").fit(X, y)
    assert torch.equal(cpu.features_.center_indices_, gpu.features_.center_indices_.cpu())
    np.testing.assert_allclose(gpu.predict(Xt), cpu.predict(Xt), rtol=0, atol=1e-8)
