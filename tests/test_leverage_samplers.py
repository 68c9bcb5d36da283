"""Weight samplers: unbiasedness of ΨΨᵀ (Def. 3.2), exactness of the rejection sampler, surrogate."""

import math

import numpy as np
import pytest
import torch

import levrf
from levrf.leverage import SAMPLERS, auto_sampling_parameters, make_sampler
from levrf.leverage.auto import budget_matched_alpha
from levrf.leverage.rejection import feature_norm_proposal
from levrf.leverage.sir import LeverageSampler

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gram_draws(kernel, X, sampler, m, draws, seed0=0, drop_importance=False):
    """Upper triangles of ΨΨᵀ for ``draws`` independent samples: (draws, n(n+1)/2)."""
    n = X.shape[0]
    iu = torch.triu_indices(n, n)
    out = []
    for r in range(draws):
        s = sampler.draw(kernel, X, m, torch.Generator().manual_seed(seed0 + r))
        imp = torch.ones_like(s.importance) if drop_importance else s.importance
        F = kernel.features(X, s.weights) * (imp / math.sqrt(m))[None, :, None]
        Psi = F.reshape(n, -1)
        out.append((Psi @ Psi.T)[iu[0], iu[1]])
    return torch.stack(out), kernel(X)[iu[0], iu[1]]


def within_noise(G, target, R):
    """‖mean of the first R draws − target‖² against its sampling distribution.

    For an unbiased estimator, E‖ē − K‖² = tr Σ / R and its sd is sqrt(2 tr Σ²)/R (Σ the
    covariance of one draw, estimated from all draws). Returns (error², bound, expected).
    """
    err2 = float((G[:R].mean(0) - target).pow(2).sum())
    Sigma = torch.cov(G.T)
    expected = float(torch.trace(Sigma)) / R
    sd = math.sqrt(2 * float((Sigma @ Sigma).diagonal().sum())) / R
    return err2, expected + 5 * sd, expected


def check_unbiased(kernel, X, sampler, m=4, draws=(150, 2400), **kw):
    G, target = gram_draws(kernel, X, sampler, m, draws[1], **kw)
    results = [within_noise(G, target, R) for R in draws]
    for err2, bound, _ in results:
        assert err2 <= bound, results
    return results


@pytest.fixture
def X():
    g = torch.Generator().manual_seed(7)
    X = torch.randn(7, 2, generator=g, dtype=torch.float64) + torch.tensor([0.8, 0.0], dtype=torch.float64)
    return X


@pytest.fixture
def Xu(X):
    return X / X.norm(dim=1, keepdim=True)


SAMPLER_CASES = {
    "gaussian": (lambda: levrf.GaussianKernel(0.7), "gaussian", {}),
    "leverage-sir": (lambda: levrf.GaussianKernel(0.7), "leverage", {"alpha": 0.05, "sampling_alpha": 0.05}),
    "leverage-auto": (lambda: levrf.GaussianKernel(0.7), "leverage", {"alpha": 0.05}),
    "leverage-approx": (
        lambda: levrf.GaussianKernel(0.7), "leverage",
        {"alpha": 0.05, "sampling_alpha": 0.05, "method": "approximate"},
    ),
    "rejection": (lambda: levrf.GaussianKernel(0.7), "rejection", {"alpha": 0.05, "sampling_alpha": 0.05}),
    "rejection-mixture": (lambda: levrf.ReLUNTK(), "rejection", {"alpha": 0.05}),
    "surrogate-arccos1": (lambda: levrf.ArcCosineKernel(1), "surrogate", {}),
    "surrogate-ntk": (lambda: levrf.ReLUNTK(), "surrogate", {}),
    "qmc-gaussian": (lambda: levrf.GaussianKernel(0.7), "qmc", {}),
    "qmc-laplacian": (lambda: levrf.LaplacianKernel(1.5), "qmc", {}),
    "qmc-matern": (lambda: levrf.MaternKernel(1.5, 0.8), "qmc", {}),
    "qmc-arccos0": (lambda: levrf.ArcCosineKernel(0), "qmc", {}),
}


@pytest.mark.parametrize("case", sorted(SAMPLER_CASES))
def test_average_of_psi_psi_t_converges_to_K(case, X, Xu):
    """E_q[ΨΨᵀ] = K: the error of the mean of R draws stays within its 1/R noise at R = 150 and 2400.

    SIR is exactly unbiased too (not only asymptotically): P(j) · p/q(w_j) = 1/M for every pool
    member j, so E[ΨΨᵀ | pool] is the pool's own Monte Carlo average of ΦΦᵀ, whose mean is K.
    """
    make_kernel, name, options = SAMPLER_CASES[case]
    kernel = make_kernel()
    data = X if isinstance(kernel, levrf.kernels.ShiftInvariantKernel) else Xu
    (e1, b1, x1), (e2, b2, x2) = check_unbiased(kernel, data, make_sampler(name, **options))
    assert x2 < x1 / 10  # the allowed error itself shrinks like 1/R (16x more draws)


def test_the_unbiasedness_check_has_power(X):
    """Dropping the importance weights of the leverage sampler is detected at R = 2400."""
    sampler = make_sampler("leverage", alpha=0.05, sampling_alpha=0.05)
    G, target = gram_draws(levrf.GaussianKernel(0.7), X, sampler, 4, 2400, drop_importance=True)
    err2, bound, _ = within_noise(G, target, 2400)
    assert err2 > 3 * bound


def statistic_under_q(kernel, X, alpha, stat, m=3000, seed=1):
    s = make_sampler("rejection", alpha=alpha, sampling_alpha=alpha).draw(
        kernel, X, m, torch.Generator().manual_seed(seed)
    )
    v = stat(s.weights)
    return float(v.mean()), float(v.std()) / math.sqrt(m), s


def statistic_by_importance(kernel, X, alpha, stat, N=40000, seed=2):
    """E_q[f] = E_p[f τ]/s_λ with s_λ exact, estimated from N draws of p (with its SE)."""
    W = kernel.sample(N, X.shape[1], seed)
    tau = levrf.ridge_leverage(kernel, X, W, alpha)
    s = levrf.statistical_dimension(kernel(X), alpha)
    v = stat(W) * tau / s
    pv = stat(W)
    return float(v.mean()), float(v.std()) / math.sqrt(N), float(pv.mean()), float(pv.std()) / math.sqrt(N)


def sq_norm(W):
    return W.pow(2).sum(1)


def first_direction(W):
    return W[:, 0] / W.norm(dim=1)


@pytest.mark.parametrize(
    ("kernel", "stat", "unit"),
    [
        (levrf.GaussianKernel(0.7), sq_norm, False),
        (levrf.ArcCosineKernel(1), sq_norm, True),
        (levrf.ArcCosineKernel(0), first_direction, True),
        (levrf.ReLUNTK(), first_direction, True),
    ],
    ids=["gaussian", "arccos1", "arccos0", "relu_ntk"],
)
def test_rejection_draws_follow_the_leverage_distribution(kernel, stat, unit, X, Xu):
    data = Xu if unit else X
    alpha = 0.05
    q_mean, q_se, sample = statistic_under_q(kernel, data, alpha, stat)
    iw_mean, iw_se, p_mean, p_se = statistic_by_importance(kernel, data, alpha, stat)
    se = math.hypot(q_se, iw_se)
    assert abs(q_mean - iw_mean) <= 4 * se, (q_mean, iw_mean, se)
    if stat is sq_norm:  # leverage really differs from p here, so the check has power
        assert abs(q_mean - p_mean) > 10 * math.hypot(q_se, p_se)
    info = sample.info
    # acceptance count is binomial around the predicted rate s(λ_min+λ)/E_p‖Φ‖²
    a, N = info["expected_acceptance_rate"], info["proposals"]
    assert abs(info["acceptance_rate"] - a) <= 4 * math.sqrt(a * (1 - a) / N) + 1.0 / N


def bounded_stats(W):
    return torch.stack([W[:, 0] / W.norm(dim=1), W.pow(2).sum(1) / (1 + W.pow(2).sum(1))], 1)


@pytest.mark.parametrize(
    "kernel",
    [levrf.GaussianKernel(0.7), levrf.ArcCosineKernel(1), levrf.ArcCosineKernel(0), levrf.ReLUNTK()],
    ids=["gaussian", "arccos1", "arccos0", "relu_ntk"],
)
def test_feature_norm_proposal(kernel, Xu):
    """q₀ = p‖Φ‖²/E_p‖Φ‖²: E_{q₀}[f] = E_p[f‖Φ‖²]/E_p‖Φ‖² for bounded f; norms and E_p‖Φ‖² = tr K exact."""
    prop = feature_norm_proposal(kernel, Xu)
    N = 30000
    W = prop.draw(N, torch.Generator().manual_seed(3))
    norms = prop.feature_norms(W)
    direct = kernel.features(Xu, W[:50]).pow(2).sum((0, 2))
    np.testing.assert_allclose(norms[:50].numpy(), direct.numpy(), rtol=1e-12)
    assert prop.expected_norm == pytest.approx(float(torch.diagonal(kernel(Xu)).sum()), rel=1e-12)
    Wp = kernel.sample(N, Xu.shape[1], 4)
    weighted = bounded_stats(Wp) * (prop.feature_norms(Wp) / prop.expected_norm)[:, None]
    f = bounded_stats(W)
    diff = f.mean(0) - weighted.mean(0)
    se = (f.var(0) / N + weighted.var(0) / N).sqrt()
    assert bool((diff.abs() <= 4 * se).all()), (diff, se)


def test_surrogate_closed_forms(Xu):
    """w ~ ‖w‖²p(w)/d: ‖w‖² ~ χ²_{d+2} (mean d+2, var 2(d+2)); importance exactly sqrt(d)/‖w‖."""
    d, m = 5, 20000
    Xd = torch.nn.functional.normalize(torch.randn(9, d, dtype=torch.float64), dim=1)
    s = make_sampler("surrogate").draw(levrf.ArcCosineKernel(1), Xd, m, torch.Generator().manual_seed(0))
    r2 = s.weights.pow(2).sum(1)
    assert abs(float(r2.mean()) - (d + 2)) <= 4 * math.sqrt(2 * (d + 2) / m)
    torch.testing.assert_close(s.importance, math.sqrt(d) / s.weights.norm(dim=1), rtol=1e-14, atol=0)
    # the direction stays uniform: E[u uᵀ] = I/d
    u = s.weights / s.weights.norm(dim=1, keepdim=True)
    assert float((u.T @ u / m - torch.eye(d, dtype=torch.float64) / d).abs().max()) < 5 * 0.5 / math.sqrt(m)


def test_surrogate_refuses_other_kernels(X):
    with pytest.raises(ValueError, match="surrogate"):
        levrf.RandomFeatures(levrf.GaussianKernel(1.0), sampling="surrogate").fit(X.numpy())


def test_mixture_bounds_importance_weights(X):
    kernel = levrf.GaussianKernel(0.7)
    s = make_sampler("leverage", alpha=1e-3).draw(kernel, X, 50, torch.Generator().manual_seed(0))
    beta = s.info["mixture"]
    assert 0 < beta < 1
    assert float(s.importance.max()) <= 1 / math.sqrt(beta) + 1e-12
    # Horvitz–Thompson: sqrt(m/(Mπ)) ≤ 1/sqrt((1-β)τ/ŝ + β), with equality where π < 1
    ratio = (1 - beta) * s.leverage / s.info["sampling_statistical_dimension"] + beta
    uncapped = s.importance > math.sqrt(50 / s.info["pool_size"]) * (1 + 1e-9)
    assert bool(uncapped.any())
    assert bool((s.importance <= ratio.rsqrt() * (1 + 1e-12)).all())
    torch.testing.assert_close(s.importance[uncapped], ratio[uncapped].rsqrt(), rtol=1e-12, atol=0)
    assert s.info["distinct_weights"] == 50


def test_systematic_pps_inclusion_probabilities():
    """Each candidate is included with probability π_j = min(1, c·w_j), never twice, m in all."""
    from levrf.leverage.resampling import inclusion_probabilities, systematic_sample

    w = torch.tensor([50.0, 8.0, 4.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.0, 3.0], dtype=torch.float64)
    m, R = 4, 20000
    pi = inclusion_probabilities(w, m)
    assert float(pi.sum()) == pytest.approx(m, rel=1e-12)
    # 50 and then 8 exceed their share and are taken with certainty; the rest is proportional to w
    assert pi[:2].tolist() == [1.0, 1.0] and float(pi[8]) == 0.0
    rest = torch.tensor([2, 3, 4, 5, 6, 7, 9])
    torch.testing.assert_close(pi[rest], 2 * w[rest] / w[rest].sum(), rtol=1e-12, atol=0)
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros_like(w)
    for _ in range(R):
        idx = systematic_sample(pi, gen)
        assert idx.numel() == m and idx.unique().numel() == m
        counts[idx] += 1
    freq = counts / R
    se = (pi * (1 - pi) / R).sqrt()
    assert bool(((freq - pi).abs() <= 4 * se + 1e-12).all()), (freq, pi)
    with pytest.raises(ValueError, match="positive weight"):
        inclusion_probabilities(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), 2)


def test_budget_matched_alpha_hits_target():
    eig = torch.logspace(-6, 1, 200, dtype=torch.float64)

    def s(a):
        return float((eig / (eig + a)).sum())

    a = budget_matched_alpha(20.0, 1e-5, s)
    assert a > 1e-5 and s(a) == pytest.approx(20.0, rel=1e-8)
    assert budget_matched_alpha(500.0, 1e-5, s) == 1e-5  # s_α already within budget


def test_auto_rule_samples_from_p_below_twice_the_statistical_dimension(X):
    kernel = levrf.GaussianKernel(0.7)
    s = levrf.statistical_dimension(kernel(X), 1e-3)
    small = int(2 * s) - 1  # just below the switch: the rule samples from p itself
    rf = levrf.RandomFeatures(kernel, n_features=small, sampling="leverage", alpha=1e-3, random_state=3).fit(X)
    assert rf.statistical_dimension_ == pytest.approx(s, rel=1e-10)
    assert rf.mixture_ == rf.sampling_info_["mixture"] == 1.0
    assert rf.sampling_alpha_ == 1e-3
    torch.testing.assert_close(rf.importance_, torch.ones(small, dtype=torch.float64))
    # the very weights that sampling="qmc" draws with the same seed, for every scoring method
    qmc = levrf.RandomFeatures(kernel, n_features=small, sampling="qmc", random_state=3).fit(X)
    torch.testing.assert_close(rf.weights_, qmc.weights_, rtol=0, atol=0)
    assert "quasi-Monte Carlo" in rf.sampling_info_["resampling"]
    # the approximate scorer draws its rows from the generator first; the p-draws must not move
    approx = LeverageSampler(alpha=1e-3, method="approximate", rank=4)
    drawn = approx.draw(kernel, X, 2, torch.Generator().manual_seed(11))
    plain = SAMPLERS["qmc"]().draw(kernel, X, 2, torch.Generator().manual_seed(11))
    assert drawn.info["mixture"] == 1.0
    torch.testing.assert_close(drawn.weights, plain.weights, rtol=0, atol=0)


def test_auto_rule_draws_iid_below_half_the_statistical_dimension(X):
    kernel = levrf.GaussianKernel(0.7)
    s = levrf.statistical_dimension(kernel(X), 1e-3)
    few = int(np.ceil(s / 2)) - 1  # below s_α/2: i.i.d. from p, the weights of sampling="gaussian"
    assert few >= 1
    rf = levrf.RandomFeatures(kernel, n_features=few, sampling="leverage", alpha=1e-3, random_state=3).fit(X)
    gauss = levrf.RandomFeatures(kernel, n_features=few, random_state=3).fit(X)
    torch.testing.assert_close(rf.weights_, gauss.weights_, rtol=0, atol=0)
    assert rf.mixture_ == 1.0 and rf.sampling_info_["p_sequence"] == "i.i.d."
    params = auto_sampling_parameters(few, 1e-3, lambda a: s, X.shape[0])
    assert params.p_sequence == "iid"
    assert auto_sampling_parameters(int(np.ceil(s / 2)), 1e-3, lambda a: s, X.shape[0]).p_sequence == "qmc"
    assert auto_sampling_parameters(int(np.ceil(2 * s)), 1e-3, lambda a: s, X.shape[0]).mixture == 0.5


def test_auto_rule_samples_by_leverage_with_a_mixture_above_the_switch(X):
    kernel = levrf.GaussianKernel(0.7)
    alpha = 1.0
    s = levrf.statistical_dimension(kernel(X), alpha)
    m = int(np.ceil(2 * s)) + 1
    rf = levrf.RandomFeatures(kernel, n_features=m, sampling="leverage", alpha=alpha, random_state=3).fit(X)
    assert rf.mixture_ == 0.5 and rf.sampling_alpha_ == alpha
    assert rf.sampling_info_["pool_size"] == 16 * m
    # importance weights p/q = 1/(0.5 τ/ŝ + 0.5) are bounded by 1/β = 2
    assert float(rf.importance_.pow(2).max()) <= 2.0 + 1e-9
    tau = levrf.ridge_leverage(kernel, X, rf.weights_, alpha)
    s_hat = rf.sampling_info_["sampling_statistical_dimension"]
    expected = (1.0 / (0.5 * tau / s_hat + 0.5)).sqrt()
    torch.testing.assert_close(rf.importance_, expected, rtol=1e-8, atol=0)


def test_fit_scores_training_data_and_transform_reuses_weights(rng):
    X_train, X_new = rng.standard_normal((40, 3)), rng.standard_normal((9, 3))
    kernel = levrf.GaussianKernel(1.0)
    rf = levrf.RandomFeatures(kernel, n_features=30, sampling="leverage", alpha=0.1, sampling_alpha=0.1,
                              random_state=5).fit(X_train)
    np.testing.assert_allclose(
        rf.leverage_.numpy(), levrf.ridge_leverage(kernel, X_train, rf.weights_, 0.1).numpy(), rtol=1e-10
    )
    Psi = rf.transform(X_new)
    F = kernel.features(X_new, rf.weights_) * (rf.importance_ / math.sqrt(30))[None, :, None]
    np.testing.assert_allclose(Psi, F.reshape(9, -1).numpy(), rtol=1e-12, atol=1e-15)
    again = levrf.RandomFeatures(kernel, n_features=30, sampling="leverage", alpha=0.1, sampling_alpha=0.1,
                                 random_state=5).fit(X_train)
    torch.testing.assert_close(again.weights_, rf.weights_, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "options", "error", "match"),
    [
        ("leverage", {"sampling_alpha": "big"}, ValueError, "sampling_alpha"),
        ("leverage", {"sampling_alpha": -1.0}, ValueError, "sampling_alpha"),
        ("leverage", {"pool_size": 0}, ValueError, "pool_size"),
        ("leverage", {"method": "magic"}, ValueError, "method"),
        ("rejection", {"method": "approximate"}, ValueError, "exact"),
        ("leverage", {"alpha": -1.0}, ValueError, "alpha"),
        ("nonsense", {}, ValueError, "sampling"),
    ],
)
def test_invalid_sampler_options(name, options, error, match):
    with pytest.raises(error, match=match):
        make_sampler(name, **options)


def test_method_rejection_is_a_deprecated_spelling_of_the_exact_sampler():
    with pytest.warns(FutureWarning, match="sampling='rejection'"):
        assert type(make_sampler("leverage", method="rejection")).__name__ == "RejectionSampler"
    X = np.random.default_rng(0).standard_normal((60, 2))
    kw = dict(kernel=levrf.GaussianKernel(1.0), n_features=20, alpha=0.1, sampling_alpha=0.1, random_state=0)
    with pytest.warns(FutureWarning, match="deprecated"):
        old = levrf.RandomFeatures(sampling="leverage", leverage_method="rejection", **kw).fit(X)
    new = levrf.RandomFeatures(sampling="rejection", **kw).fit(X)
    torch.testing.assert_close(old.weights_, new.weights_, rtol=0, atol=0)  # same draws, same code path


def test_rejection_refuses_hopeless_or_unbounded_cases(X):
    from levrf.leverage.rejection import RejectionSampler

    with pytest.raises(ValueError, match="proposals"):
        RejectionSampler(alpha=1e-9, sampling_alpha=1e-9, max_proposals=100).draw(
            levrf.GaussianKernel(10.0), X, 50, torch.Generator()
        )
    base = levrf.GaussianKernel(0.7)
    user = levrf.FunctionKernel(base._sample, base._features, base._exact)
    with pytest.raises(ValueError, match="feature norm"):
        RejectionSampler(alpha=0.1, sampling_alpha=0.1).draw(user, X, 5, torch.Generator())
