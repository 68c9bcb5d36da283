"""Gradient descent on the regularized objective (levrf.nn.train_regularized) and its flow."""

from __future__ import annotations

import math

import pytest
import torch

import levrf
from levrf.nn import (
    DeepReLUNet,
    TwoLayerReLU,
    default_learning_rate,
    dynamic_kernel,
    stopping_time,
    train_regularized,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def data(n: int = 24, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.sin(3 * X[:, 0]) + 2 * X[:, 1] * X[:, 2] + 0.2 * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y


@pytest.mark.parametrize("penalty", ["origin", "init"])
def test_linearized_gd_is_the_discretized_flow(penalty):
    """H frozen at H(0): u ← u + η(κ²H(Y − u) − α(u − u_ref)) to 1e-10, and u → κ²H(κ²H + αI)⁻¹Y."""
    X, y = data()
    kappa, alpha, lr = 0.7, 0.05, 0.2
    net = TwoLayerReLU(5, 300, kappa=kappa, symmetric=(penalty == "init"), random_state=1)
    H = dynamic_kernel(net, X)
    u = kappa * net(X).detach()  # u(0); 0 for the symmetric net
    u_ref = u.clone() if penalty == "init" else torch.zeros_like(u)
    seen = []
    hist = train_regularized(net, X, y, alpha, steps=1500, lr=lr, penalty=penalty, linearized=True,
                             record_every=1, quiet=True, callback=lambda step, net, rec: seen.append(rec["u"]))
    worst = 0.0
    for step in range(1501):
        worst = max(worst, float((seen[step] - u).abs().max()))
        u = u + lr * (kappa**2 * H @ (y - u) - alpha * (u - u_ref))
    assert len(seen) == 1501 and worst < 1e-10
    twin = kappa**2 * H @ torch.linalg.solve(kappa**2 * H + alpha * torch.eye(24, dtype=H.dtype), y)
    assert float((hist.u_train - twin).norm() / twin.norm()) < 1e-9
    assert hist.kernel_drift[-1] == 0.0  # frozen patterns: H(t) = H(0)


def test_one_step_follows_the_flow_of_the_network():
    """du/dt = κ²H(t)(Y − u) − αu for the real (nonlinear) network: homogeneity at work."""
    X, y = data(seed=3)
    for net in (TwoLayerReLU(5, 400, kappa=1.5, random_state=2), DeepReLUNet(5, 64, 2, kappa=1.5, random_state=2)):
        alpha, lr = 0.3, 1e-7
        u0 = 1.5 * net(X).detach()
        H = dynamic_kernel(net, X)
        flow = 2.25 * H @ (y - u0) - alpha * u0
        hist = train_regularized(net, X, y, alpha, steps=1, lr=lr, quiet=True, track_kernel=False)
        rate = (hist.u_train - u0) / lr
        # O(lr) curvature error relative to the rate; the α/(L+1) scaling matters at O(1)
        assert float((rate - flow).norm() / flow.norm()) < 1e-4, type(net).__name__


def test_default_lr_and_history_bookkeeping(torch_threads):
    X, y = data(seed=4)
    net = TwoLayerReLU(5, 200, kappa=2.0, random_state=3)
    lam = float(torch.linalg.eigvalsh(dynamic_kernel(net, X))[-1])
    assert default_learning_rate(net, X, alpha=0.1) == pytest.approx(1 / (4 * lam + 0.1), rel=1e-12)
    W0 = net.weight.detach().clone()
    hist = train_regularized(net, X, y, 0.1, steps=40, record_every=15, X_test=X[:5], quiet=True)
    assert hist.lr == pytest.approx(1 / (4 * lam + 0.1), rel=1e-12) and hist.kappa == 2.0
    assert hist.step == [0, 15, 30, 40] and hist.steps == 40
    assert hist.time == pytest.approx([s * hist.lr for s in hist.step])
    assert hist.kernel_drift[0] == 0.0 and hist.weight_drift[0] == 0.0  # H(0) recomputed by the same call
    assert hist.weight_drift[-1] == pytest.approx(float((net.weight.detach() - W0).norm(dim=1).max()), rel=1e-12)
    # the recorded quantities are what they say, recomputed here the direct way
    H_cts = levrf.ReLUNTK()(X)
    u_star = 4 * H_cts @ torch.linalg.solve(4 * H_cts + 0.1 * torch.eye(24, dtype=torch.float64), y)
    u = 2.0 * net(X).detach()
    assert torch.allclose(hist.u_train, u, atol=1e-12) and torch.allclose(hist.u_star, u_star, atol=1e-12)
    assert hist.train_gap[-1] == pytest.approx(float((u - u_star).norm()), rel=1e-10)
    assert hist.relative_train_gap[-1] == pytest.approx(float((u - u_star).norm() / u_star.norm()), rel=1e-10)
    Ht = dynamic_kernel(net, X)
    assert hist.kernel_error[-1] == pytest.approx(float(torch.linalg.matrix_norm(Ht - H_cts, ord=2)), rel=1e-8)
    obj = 0.5 * float(((y - u) ** 2).sum()) + 0.05 * float((net.weight.detach() ** 2).sum())
    assert hist.loss[-1] == pytest.approx(obj, rel=1e-10)
    assert len(hist.test_gap) == 4 and hist.u_test.shape == (5,)
    assert hist.loss[-1] < hist.loss[0]
    assert set(hist.to_dict()) >= {"loss", "train_gap", "kernel_drift", "u_train"}


def test_deep_training_penalty_is_divided_by_layers():
    """One step with a zero-residual target leaves only the penalty: θ ← θ(1 − η α/(L+1))."""
    X, _ = data(seed=5)
    net = DeepReLUNet(5, 16, depth=3, random_state=0)
    before = [p.detach().clone() for p in net.parameters()]
    y = net(X).detach()  # residual 0 at θ(0)
    train_regularized(net, X, y, alpha=0.8, steps=1, lr=0.1, quiet=True, track_kernel=False)
    for p, b in zip(net.parameters(), before, strict=True):
        assert torch.allclose(p.detach(), b * (1 - 0.1 * 0.8 / 4), rtol=0, atol=1e-14)


def test_stopping_time_closed_form():
    assert stopping_time(1e-3, 0.05, kappa=2.0, alpha=0.01) == pytest.approx(math.log(1e3) / 0.21)
    # at T the linear flow has contracted by exactly ε along the slowest direction
    T = stopping_time(0.01, 0.3, alpha=0.1)
    assert math.exp(-(0.3 + 0.1) * T) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="epsilon"):
        stopping_time(1.5, 0.1)
    with pytest.raises(ValueError, match="lambda0"):
        stopping_time(0.1, -1.0)
    with pytest.raises(ValueError, match="finite"):
        stopping_time(0.1, 0.0, alpha=0.0)


def test_tol_stops_when_the_objective_settles():
    X, y = data(seed=6)
    net = TwoLayerReLU(5, 200, symmetric=True, random_state=5)
    hist = train_regularized(net, X, y, 0.2, tol=1e-6, penalty="init", record_every=10, quiet=True)
    assert hist.converged and hist.steps < 200_000
    assert abs(hist.loss[-1] - hist.loss[-2]) <= 1e-6 * hist.loss[-1]
    capped = train_regularized(TwoLayerReLU(5, 200, random_state=5), X, y, 0.2, steps=5, tol=1e-12,
                               quiet=True)
    assert capped.steps == 5 and not capped.converged


def test_callback_can_stop_and_divergence_is_reported():
    X, y = data(seed=7)
    net = TwoLayerReLU(5, 100, random_state=6)
    hist = train_regularized(net, X, y, 0.1, steps=100, record_every=5, quiet=True,
                             callback=lambda step, net, rec: step >= 10)
    assert hist.step[-1] == 10
    with pytest.raises(FloatingPointError, match="lr"):
        train_regularized(TwoLayerReLU(5, 100, random_state=6), X, y, 0.1, steps=400, lr=50.0,
                          record_every=50, quiet=True)


def test_train_validation():
    X, y = data(n=8)
    net = TwoLayerReLU(5, 10)
    with pytest.raises(ValueError, match="steps"):
        train_regularized(net, X, y, 0.1)
    with pytest.raises(ValueError, match="penalty"):
        train_regularized(net, X, y, 0.1, steps=1, penalty="l1")
    with pytest.raises(ValueError, match="alpha"):
        train_regularized(net, X, y, -0.1, steps=1)
    with pytest.raises(ValueError, match="y"):
        train_regularized(net, X, y[:5], 0.1, steps=1)
    with pytest.raises(ValueError, match="X_test"):
        train_regularized(net, X, y, 0.1, steps=1, X_test=X[:, :3])
    with pytest.raises(ValueError, match="linearized"):
        train_regularized(DeepReLUNet(5, 4), X, y, 0.1, steps=1, linearized=True)
    with pytest.raises(TypeError, match="net"):
        train_regularized(object(), X, y, 0.1, steps=1)
    with pytest.raises(ValueError, match="kernel"):
        train_regularized(torch.nn.Linear(5, 1), X, y, 0.1, steps=1)
