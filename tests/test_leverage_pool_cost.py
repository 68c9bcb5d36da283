"""What makes a resampling leverage fit cheap: the adaptive pool and the restricted scoring rows."""

import math

import numpy as np
import pytest
import torch
from test_leverage_samplers import check_unbiased

import levrf
from levrf.leverage.approximate import SubsampleLeverage
from levrf.leverage.auto import SCORING_MIN_ROWS, scoring_rows
from levrf.leverage.resampling import capped_law_distance, choose_pool_factor
from levrf.leverage.sir import POOL_FACTOR, POOL_FACTORS, LeverageSampler

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_capped_law_distance_closed_form():
    """One candidate of ratio a among P − 1 of ratio 1, pool factor F, m' = P/F: it is capped at
    π = 1 when a·m'/S > 1 (S = a + P − 1), and then the capped law misses a/S − 1/m' of its mass."""
    P, a, F = 16, 10.0, 4
    ratio = torch.ones(P, dtype=torch.float64)
    ratio[3] = a
    S, m = a + P - 1, P / F
    assert a * m / S > 1
    assert capped_law_distance(ratio, F) == pytest.approx(a / S - 1 / m, rel=1e-12)
    ratio[3] = 2.0  # 2·4/17 < 1: nothing capped, the capped law is the target
    assert capped_law_distance(ratio, F) == pytest.approx(0.0, abs=1e-15)


def test_pool_factor_is_small_for_flat_ratios_and_the_largest_for_heavy_tails():
    g = torch.Generator().manual_seed(0)
    flat = 0.5 + 0.5 * torch.rand(4000, generator=g, dtype=torch.float64) * 2  # r in [0.5, 1.5]
    assert choose_pool_factor(flat / flat.mean(), POOL_FACTORS, 0.02) == min(POOL_FACTORS)
    heavy = 0.5 + 0.5 * torch.distributions.Pareto(1.0, 1.2).sample((4000,)).to(torch.float64)
    heavy = heavy / heavy.mean()
    assert capped_law_distance(heavy, POOL_FACTOR) > 0.02
    assert choose_pool_factor(heavy, POOL_FACTORS, 0.02) == max(POOL_FACTORS)
    # the distance decreases as the pool grows
    d = [capped_law_distance(heavy, f) for f in sorted(POOL_FACTORS)]
    assert d[0] > d[1] > d[2]


def test_scoring_rows():
    assert scoring_rows(2048, 9.4) == SCORING_MIN_ROWS
    assert scoring_rows(2048, 200.0) == 1600
    assert scoring_rows(200, 9.4) == 200
    with pytest.raises(ValueError, match="statistical_dimension"):
        scoring_rows(100, float("nan"))
    with pytest.raises(ValueError, match="pilot"):
        scoring_rows(0, 1.0)


def test_restricted_pilot_equals_a_fresh_subsample_of_its_rows(rng):
    X = torch.as_tensor(rng.standard_normal((300, 3)))
    kernel = levrf.GaussianKernel(1.2)
    pilot = SubsampleLeverage(kernel, X, 0.3, rank=200, generator=torch.Generator().manual_seed(1))
    sub = pilot.restricted(50, torch.Generator().manual_seed(2))
    keep = torch.randperm(200, generator=torch.Generator().manual_seed(2))[:50].sort().values
    fresh = SubsampleLeverage(kernel, X, 0.3, rows=pilot.rows[keep])
    assert sub.rank == 50 and torch.equal(sub.rows, fresh.rows)
    W = kernel.sample(40, 3, 5)
    eps = torch.finfo(torch.float64).eps
    torch.testing.assert_close(sub(W), fresh(W), rtol=1e4 * eps, atol=0)
    assert sub.statistical_dimension() == pytest.approx(fresh.statistical_dimension(), rel=1e4 * eps)
    assert pilot.restricted(500, torch.Generator()) is pilot


def test_resampling_above_the_budget_uses_a_small_pool_and_few_scoring_rows(rng):
    """Large ridge (s_α ≈ 1, τ nearly flat): the smallest pool and SCORING_MIN_ROWS scoring rows."""
    X = torch.as_tensor(rng.standard_normal((3000, 4)))
    kernel = levrf.GaussianKernel(2.0)
    m = 300
    s = LeverageSampler(alpha=300.0).draw(kernel, X, m, torch.Generator().manual_seed(0))
    assert s.info["mixture"] == 0.5 and s.info["method"] == "approximate"
    assert s.info["pool_factor"] == min(POOL_FACTORS) and s.info["pool_size"] == min(POOL_FACTORS) * m
    assert s.info["probe_size"] == m and s.info["probe_capped_distance"] <= 0.02
    assert s.info["scoring_rows"] == SCORING_MIN_ROWS
    assert float(s.importance.pow(2).max()) <= 2.0 + 1e-9 and s.weights.shape == (m, 4)
    given = LeverageSampler(alpha=300.0, pool_size=5 * m).draw(kernel, X, m, torch.Generator().manual_seed(0))
    assert given.info["pool_size"] == 5 * m and "pool_factor" not in given.info


def test_pilot_path_with_an_adaptive_pool_is_unbiased():
    """E[ΨΨᵀ] = K through the pilot path (above the budget) with the adaptive pool: the pool is drawn
    after, and independently of, the probe that sized it, so SIR stays exactly unbiased."""
    g = torch.Generator().manual_seed(7)
    X = torch.randn(7, 2, generator=g, dtype=torch.float64) + torch.tensor([0.8, 0.0], dtype=torch.float64)
    kernel = levrf.GaussianKernel(0.7)
    with levrf.config_context(leverage_exact_bytes=8 * 6**2):
        s = LeverageSampler(alpha=2.0).draw(kernel, X, 4, torch.Generator().manual_seed(0))
        assert s.info["mixture"] == 0.5 and "pool_factor" in s.info
        (e1, b1, x1), (e2, b2, x2) = check_unbiased(kernel, X, LeverageSampler(alpha=2.0))
    assert x2 < x1 / 10
    assert math.isfinite(e2) and np.isfinite(b2)


def test_a_small_first_pilot_decides_sampling_from_p(rng):
    """Small α (s_α ≫ m): the first pilot of max(512, m) rows already says "sample from p", so the
    2m-row pilot is never built; where it does not (large α), the full pilot decides."""
    from levrf.leverage.auto import first_pilot_rows, pilot_rows

    X = torch.as_tensor(rng.standard_normal((5000, 4)))
    kernel = levrf.GaussianKernel(1.0)
    m = 600
    assert first_pilot_rows(5000, m, 2048) == 600 < pilot_rows(5000, m, 2048) == 1200
    s = LeverageSampler(alpha=1e-4).draw(kernel, X, m, torch.Generator().manual_seed(0))
    assert s.info["mixture"] == 1.0 and s.info["statistical_dimension_rows"] == 600
    gauss = levrf.RandomFeatures(kernel, n_features=m, sampling="qmc", random_state=0).fit(X.numpy())
    torch.testing.assert_close(s.weights, gauss.weights_, rtol=0, atol=0)  # p's own weights, same seed
    big = LeverageSampler(alpha=500.0).draw(kernel, X, m, torch.Generator().manual_seed(0))
    assert big.info["mixture"] == 0.5 and big.info["scoring_rows"] == SCORING_MIN_ROWS


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lower_triangular_inverse(dtype):
    from levrf.leverage.scores import lower_triangular_inverse

    g = torch.Generator().manual_seed(4)
    A = torch.randn(60, 60, generator=g, dtype=torch.float64)
    L = torch.linalg.cholesky(A @ A.T + 60 * torch.eye(60, dtype=torch.float64)).to(dtype)
    inv = lower_triangular_inverse(L)
    assert inv.dtype == dtype and torch.equal(inv, inv.tril())
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(inv @ L, torch.eye(60, dtype=dtype), rtol=0, atol=100 * eps)
