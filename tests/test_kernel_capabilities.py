"""Kernel capabilities instead of isinstance chains: the leverage machinery asks the kernel.

- a user kernel without a capability gets a clear ValueError from the sampler that needs it;
- a user kernel that opts in gets exactly what the built-in kernel with the same p and φ gets
  (same draws, same numbers), checked against closed forms where there is one.
"""

import math

import numpy as np
import pytest
import torch

import levrf
from levrf.kernels.proposals import ConstantNormProposal, FeatureNormProposal
from levrf.leverage.rejection import RejectionSampler
from levrf.leverage.scores import ExactLeverage
from levrf.leverage.surrogate import SurrogateSampler


@pytest.fixture
def X():
    X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


def user_copy(kernel, cls=levrf.FunctionKernel):
    """A FunctionKernel with the same p, φ and closed form as a built-in kernel."""
    return cls(kernel._sample, kernel._features, kernel._exact)


def test_builtin_capabilities():
    assert levrf.ReLUNTK().gated_features and not levrf.ArcCosineKernel(1).gated_features
    assert levrf.ReLUNTK().p_is_standard_normal and levrf.ArcCosineKernel(0).p_is_standard_normal
    assert not levrf.GaussianKernel(1.0).p_is_standard_normal  # N(0, σ⁻²I) depends on σ
    assert levrf.GaussianKernel(1.0).weight_dim(3) == 3 and user_copy(levrf.GaussianKernel(1.0)).weight_dim(3) is None
    for kernel in (levrf.GaussianKernel(1.0), levrf.ReLUNTK(), levrf.ArcCosineKernel(0), levrf.ArcCosineKernel(1)):
        assert isinstance(kernel.feature_norm_proposal(torch.ones(2, 3, dtype=torch.float64)), FeatureNormProposal)
    plain = user_copy(levrf.GaussianKernel(1.0))
    assert plain.feature_norm_proposal(torch.ones(2, 3, dtype=torch.float64)) is None
    assert not plain.gated_features and not plain.p_is_standard_normal
    with pytest.raises(NotImplementedError, match="gated_features is False"):
        plain.feature_gates(torch.ones(2, 3), torch.ones(4, 3))


def test_function_kernel_without_capabilities_gets_clear_errors(X):
    plain = user_copy(levrf.ReLUNTK())
    with pytest.raises(ValueError, match="rejection sampling needs a bound on the feature norm.*feature_norm_proposal"):
        RejectionSampler(alpha=0.1, sampling_alpha=0.1).draw(plain, X, 5, torch.Generator())
    with pytest.raises(ValueError, match="sampling='surrogate' needs weights drawn from p = N\\(0, I_d\\)"):
        SurrogateSampler().draw(plain, X, 5, torch.Generator())
    for sampling in ("rejection", "surrogate"):  # the same errors through the estimator
        with pytest.raises(ValueError, match=sampling if sampling == "surrogate" else "feature norm"):
            levrf.RandomFeatures(plain, n_features=5, sampling=sampling, alpha=0.1).fit(X.numpy())


def test_wrong_proposal_type_is_a_type_error(X):
    class Broken(levrf.FunctionKernel):
        def feature_norm_proposal(self, X):
            return "not a proposal"

    with pytest.raises(TypeError, match="feature_norm_proposal\\(\\) must return"):
        RejectionSampler(alpha=0.1, sampling_alpha=0.1).draw(user_copy(levrf.GaussianKernel(1.0), Broken), X, 5,
                                                          torch.Generator())


def test_user_kernel_opting_into_the_surrogate_matches_the_closed_form(X):
    class StandardNormalUser(levrf.FunctionKernel):
        p_is_standard_normal = True

    kernel = user_copy(levrf.ArcCosineKernel(1), StandardNormalUser)
    m, d = 4000, X.shape[1]
    s = SurrogateSampler().draw(kernel, X, m, torch.Generator().manual_seed(1))
    builtin = SurrogateSampler().draw(levrf.ArcCosineKernel(1), X, m, torch.Generator().manual_seed(1))
    torch.testing.assert_close(s.weights, builtin.weights, rtol=0, atol=0)
    torch.testing.assert_close(s.importance, math.sqrt(d) / s.weights.norm(dim=1), rtol=1e-14, atol=0)
    sq = s.weights.pow(2).sum(1)  # ‖w‖² ~ χ²_{d+2}: mean d + 2, variance 2(d + 2)
    assert abs(float(sq.mean()) - (d + 2)) <= 4 * math.sqrt(2 * (d + 2) / m)


def test_user_kernel_opting_into_rejection_draws_what_the_builtin_draws(X):
    class BoundedUser(levrf.FunctionKernel):
        def feature_norm_proposal(self, X):
            return ConstantNormProposal(self, X)

    base = levrf.GaussianKernel(0.7)
    sampler = RejectionSampler(alpha=0.1, sampling_alpha=0.1)
    got = sampler.draw(user_copy(base, BoundedUser), X, 30, torch.Generator().manual_seed(5))
    expected = sampler.draw(base, X, 30, torch.Generator().manual_seed(5))
    torch.testing.assert_close(got.weights, expected.weights, rtol=0, atol=0)
    torch.testing.assert_close(got.importance, expected.importance, rtol=1e-12, atol=0)
    # importance² = s_α/τ(w) with the exact s_α = tr[(K + αI)⁻¹K]
    K = base(X).numpy()
    s = float(np.trace(np.linalg.solve(K + 0.1 * np.eye(40), K)))
    Phi = base.features(X, got.weights)  # (n, m, 2)
    A = np.linalg.solve(K + 0.1 * np.eye(40), Phi.reshape(40, -1).numpy()).reshape(40, 30, 2)
    tau = (Phi.numpy() * A).sum((0, 2))
    np.testing.assert_allclose(got.importance.numpy() ** 2, s / tau, rtol=1e-9)


def test_gated_features_shortcut_equals_the_generic_path(X):
    """A user ReLU NTK that declares its gates gets the GEMM shortcut; τ is the same as by solves."""
    ntk = levrf.ReLUNTK()

    class GatedUser(levrf.FunctionKernel):
        gated_features = True

        def feature_gates(self, X, W):
            return (X @ W.T >= 0).to(X.dtype)

    W = ntk.sample(50, 3, 2)
    gated = ExactLeverage(user_copy(ntk, GatedUser), X, 0.1)
    generic = ExactLeverage(user_copy(ntk), X, 0.1)
    assert gated._B is not None and generic._B is None
    expected = generic(W)
    torch.testing.assert_close(gated(W), expected, rtol=1e-11, atol=0)
    torch.testing.assert_close(ExactLeverage(ntk, X, 0.1)(W), expected, rtol=1e-11, atol=0)
