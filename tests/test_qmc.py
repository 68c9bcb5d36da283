"""sampling="qmc": every weight has the law p, the set approximates K better than i.i.d. draws."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import levrf
from levrf.leverage import make_sampler
from levrf.leverage.qmc import MAX_DIM, draw_from_p, sobol_uniforms

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D = 3


def draws(kernel, m=64, seeds=40):
    """Weights of ``seeds`` independent QMC sets of m weights, stacked: (seeds·m, D)."""
    sampler = make_sampler("qmc")
    X = torch.zeros(1, D, dtype=torch.float64)
    return torch.cat([sampler.draw(kernel, X, m, torch.Generator().manual_seed(s)).weights for s in range(seeds)])


# (kernel, exact CDF of one coordinate, exact CDF of a radial statistic r(W))
LAWS = {
    "gaussian": (levrf.GaussianKernel(0.5), stats.norm(scale=2.0).cdf,
                 lambda W: (W * 0.5).pow(2).sum(1), stats.chi2(D).cdf),
    "laplacian": (levrf.LaplacianKernel(2.0), stats.cauchy(scale=0.5).cdf, None, None),
    "matern0.5": (levrf.MaternKernel(0.5, 2.0), stats.t(1, scale=0.5).cdf,
                  lambda W: (W * 2.0).pow(2).sum(1) / D, stats.f(D, 1).cdf),
    "matern2.5": (levrf.MaternKernel(2.5, 1.0), stats.t(5).cdf,
                  lambda W: W.pow(2).sum(1) / D, stats.f(D, 5).cdf),
    "relu_ntk": (levrf.ReLUNTK(), stats.norm.cdf, lambda W: W.pow(2).sum(1), stats.chi2(D).cdf),
}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_each_weight_has_the_law_p(name):
    """Kolmogorov–Smirnov against the exact marginals of p: each coordinate and a radial statistic
    (which sees the joint law). Within one set the points are negatively dependent, which only
    makes the empirical CDF closer to the truth; the 40 sets are independent."""
    kernel, coordinate_cdf, radial, radial_cdf = LAWS[name]
    W = draws(kernel).numpy()
    pvalues = [stats.kstest(W[:, j], coordinate_cdf).pvalue for j in range(D)]
    if radial is not None:
        pvalues.append(stats.kstest(radial(torch.from_numpy(W)).numpy(), radial_cdf).pvalue)
    assert min(pvalues) > 1e-3 / len(pvalues), pvalues


def test_the_law_check_has_power():
    """A wrong bandwidth (σ = 0.55 for the σ = 0.5 law) is rejected by the radial statistic."""
    _, _, radial, radial_cdf = LAWS["gaussian"]
    W = draws(levrf.GaussianKernel(0.55))
    assert stats.kstest(radial(W).numpy(), radial_cdf).pvalue < 1e-6


def kernel_error(sampling, kernel, X, m, seeds):
    errors = []
    for seed in range(seeds):
        rf = levrf.RandomFeatures(kernel, n_features=m, sampling=sampling, random_state=seed).fit(X)
        Psi = torch.from_numpy(rf.transform(X))
        errors.append(float((Psi @ Psi.T - kernel(X)).pow(2).sum()))
    return np.mean(errors), np.std(errors) / math.sqrt(seeds)


@pytest.mark.parametrize("kernel", [levrf.GaussianKernel(1.0), levrf.MaternKernel(2.5, 1.0)], ids=["gaussian", "matern"])
def test_qmc_approximates_the_kernel_better_than_iid(kernel):
    """E‖ΨΨᵀ − K‖_F² over 60 seeds: QMC below i.i.d. by more than 3 standard errors."""
    X = torch.randn(40, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    iid, iid_se = kernel_error("gaussian", kernel, X, 64, 60)
    qmc, qmc_se = kernel_error("qmc", kernel, X, 64, 60)
    assert iid - qmc > 3 * math.hypot(iid_se, qmc_se), (iid, iid_se, qmc, qmc_se)


def test_same_seed_same_weights_and_seeds_differ():
    kernel = levrf.GaussianKernel(1.0)
    X = np.zeros((2, 4))
    a = levrf.RandomFeatures(kernel, n_features=50, sampling="qmc", random_state=5).fit(X).weights_
    b = levrf.RandomFeatures(kernel, n_features=50, sampling="qmc", random_state=5).fit(X).weights_
    c = levrf.RandomFeatures(kernel, n_features=50, sampling="qmc", random_state=6).fit(X).weights_
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_uniforms_are_strictly_inside_the_cube_and_evenly_spread():
    U = sobol_uniforms(1024, 2, torch.Generator().manual_seed(0))
    assert bool(((U > 0) & (U < 1)).all())
    # a 32 × 32 grid: 1,024 scrambled Sobol points put exactly one point in each cell
    cells = (U * 32).floor().long()
    assert torch.unique(cells[:, 0] * 32 + cells[:, 1]).numel() == 1024


def test_qmc_refusals():
    base = levrf.GaussianKernel(0.7)
    user = levrf.FunctionKernel(base._sample, base._features, base._exact)
    with pytest.raises(ValueError, match="sampling='qmc'"):
        levrf.RandomFeatures(user, n_features=4, sampling="qmc").fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="dimension"):
        sobol_uniforms(4, MAX_DIM + 1, torch.Generator())
    with pytest.raises(ValueError, match="open unit cube"):
        base.weights_from_uniform(torch.zeros(2, 3), 3)
    with pytest.raises(ValueError, match="shape"):
        base.weights_from_uniform(torch.full((2, 4), 0.5), 3)
    with pytest.raises(ValueError, match="inverse-CDF"):
        user.weights_from_uniform(torch.full((2, 2), 0.5), 2)


def test_leverage_p_part_is_iid_where_the_kernel_has_no_inverse_cdf():
    base = levrf.GaussianKernel(0.7)
    user = levrf.FunctionKernel(base._sample, base._features, base._exact)
    W, how = draw_from_p(user, 5, 2, torch.Generator().manual_seed(1), "qmc")
    torch.testing.assert_close(W, user.sample(5, 2, torch.Generator().manual_seed(1)), rtol=0, atol=0)
    assert how == "i.i.d."
    with pytest.raises(ValueError, match="sequence"):
        draw_from_p(base, 5, 2, torch.Generator(), "sobol")


def test_fused_cos_sin_map_equals_the_definition_and_keeps_gradients():
    kernel = levrf.GaussianKernel(0.9)
    g = torch.Generator().manual_seed(3)
    X = torch.randn(6, 2, generator=g, dtype=torch.float64, requires_grad=True)
    W = kernel.sample(5, 2, g)
    scale = torch.rand(5, generator=g, dtype=torch.float64)
    reference = (kernel.compute_features(X, W) * scale[None, :, None]).reshape(6, -1)
    fused = kernel.feature_map(X.detach(), W, scale)
    torch.testing.assert_close(fused, reference.detach(), rtol=0, atol=1e-15)
    grad = torch.autograd.grad(kernel.feature_map(X, W, scale).sum(), X)[0]
    torch.testing.assert_close(grad, torch.autograd.grad(reference.sum(), X)[0])
