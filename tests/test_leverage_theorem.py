"""Theorem 3.3: m = (8/3) ε⁻² s_λ ln(16 s_λ² / δ) exact-leverage features give an ε-approximation
(Eq. 2) with probability ≥ 1 − δ. Checked with the exact (rejection) sampler over 40 trials."""

import pytest
import torch

import levrf

EPSILON, DELTA, ALPHA, TRIALS = 0.5, 0.1, 0.1, 40


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def problem():
    X, _ = levrf.datasets.load("diamonds", n=50, random_state=3)
    kernel = levrf.GaussianKernel(6**0.5)
    K = kernel(X)
    return X, kernel, K, levrf.statistical_dimension(K, ALPHA)


def spectral_errors(problem, m):
    X, kernel, K, _ = problem
    out = []
    for seed in range(TRIALS):
        rf = levrf.RandomFeatures(kernel, n_features=m, sampling="rejection", alpha=ALPHA,
                                  sampling_alpha=ALPHA, random_state=seed).fit(X)
        out.append(levrf.spectral_error(K, rf.transform(X), ALPHA))
    return torch.tensor(out)


def test_feature_bound_gives_epsilon_approximation_with_probability_1_minus_delta(problem):
    s = problem[3]
    m = levrf.feature_bound(EPSILON, DELTA, s, s)
    eps = spectral_errors(problem, m)
    failures = float((eps > EPSILON).double().mean())
    assert failures <= DELTA, (m, s, eps.max())


def test_too_few_features_fail_the_same_check(problem):
    """The check has power: with m = s_λ/2 exact-leverage features most trials miss ε = 0.5."""
    m = max(1, int(problem[3] / 2))
    eps = spectral_errors(problem, m)
    assert float((eps > EPSILON).double().mean()) > 0.5
