"""TwoLayerReLU, DeepReLUNet, their tangent kernels and leverage initialization (levrf.nn)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import levrf
from levrf.leverage.samplers import SAMPLERS, Sampler, WeightSample
from levrf.nn import (
    DeepReLUNet,
    TwoLayerReLU,
    dynamic_kernel,
    empirical_ntk,
    leverage_init_,
    ntk_ridge,
    train_regularized,
)

HAS_LEVERAGE = "leverage" in SAMPLERS
needs_leverage = pytest.mark.skipif(not HAS_LEVERAGE, reason="the 'leverage' sampler has not landed yet")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unit_rows(n: int, d: int, seed: int) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


def per_example_gradients(net: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The definition, one example at a time: row i is ∂f(x_i)/∂θ flattened."""
    rows = []
    for i in range(X.shape[0]):
        grads = torch.autograd.grad(net(X[i : i + 1]).sum(), list(net.parameters()))
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def test_forward_matches_neuron_sum():
    X = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    net = TwoLayerReLU(5, 9, random_state=3)
    W, a = net.weight.detach(), net.sign
    c = torch.linspace(0.5, 2.0, 9, dtype=torch.float64)
    net = TwoLayerReLU.from_weights(W, a, c)
    direct = torch.zeros(7, dtype=torch.float64)
    for r in range(9):  # f(W, x) = m^{-1/2} Σ_r a_r c_r max(w_rᵀx, 0), written out
        direct += a[r] * c[r] * torch.clamp(X @ W[r], min=0) / 3.0
    assert torch.allclose(net(X).detach(), direct, rtol=0, atol=1e-14)
    assert set(a.tolist()) <= {-1.0, 1.0} and net.weight.requires_grad
    assert not net.sign.requires_grad and [n for n, _ in net.named_parameters()] == ["weight"]


def test_same_seed_same_network_and_symmetric_pairs():
    a, b = TwoLayerReLU(4, 10, random_state=5), TwoLayerReLU(4, 10, random_state=5)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.sign, b.sign)
    assert not torch.equal(a.weight, TwoLayerReLU(4, 10, random_state=6).weight)
    sym = TwoLayerReLU(4, 10, symmetric=True, random_state=5)
    assert torch.equal(sym.weight[:5], sym.weight[5:]) and torch.equal(sym.sign[:5], -sym.sign[5:])
    X = torch.randn(20, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(sym(X).detach().abs().max()) < 1e-14  # 0 up to the rounding of the sum over r
    assert float(a(X).detach().abs().max()) > 0.1


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_homogeneity_identity(depth):
    """⟨∂f/∂θ, θ⟩ = (L+1) f(θ, x) for every example (ReLU is positively homogeneous)."""
    X = torch.randn(6, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    if depth == 0:
        net = TwoLayerReLU(5, 40, random_state=1)
        with torch.no_grad():
            net.importance.copy_(torch.linspace(0.3, 3.0, 40, dtype=torch.float64))
    else:
        net = DeepReLUNet(5, 30, depth, random_state=1)
    J = per_example_gradients(net, X)
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    degree = net.n_trained_layers
    assert degree == max(depth, 0) + 1
    f = net(X).detach()
    assert float(f.abs().min()) > 1e-3
    assert torch.allclose(J @ theta, degree * f, rtol=0, atol=1e-12)


def test_two_layer_dynamic_kernel_equals_autograd_gram():
    X = torch.randn(9, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    Z = torch.randn(5, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    net = TwoLayerReLU(4, 64, random_state=2)
    with torch.no_grad():
        net.importance.copy_(0.5 + torch.rand(64, generator=torch.Generator().manual_seed(6), dtype=torch.float64))
        net.weight.add_(0.3)  # moved weights: the kernel of W(t), not only W(0)
    JX, JZ = per_example_gradients(net, X), per_example_gradients(net, Z)
    assert torch.allclose(dynamic_kernel(net, X), JX @ JX.T, rtol=0, atol=1e-10)
    assert torch.allclose(dynamic_kernel(net, X, Z), JX @ JZ.T, rtol=0, atol=1e-10)
    # the generic torch.func path agrees with the closed form too
    assert torch.allclose(empirical_ntk(net, X, Z), JX @ JZ.T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("symmetric", [False, True])
def test_deep_dynamic_kernel_equals_autograd_gram(symmetric):
    X = torch.randn(7, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    Z = torch.randn(4, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    net = DeepReLUNet(3, 16, depth=3, symmetric=symmetric, random_state=3)
    with torch.no_grad():  # break the symmetry between copies: a trained network
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(9), dtype=p.dtype))
    JX, JZ = per_example_gradients(net, X), per_example_gradients(net, Z)
    assert torch.allclose(dynamic_kernel(net, X), JX @ JX.T, rtol=0, atol=1e-10)
    assert torch.allclose(dynamic_kernel(net, X, Z), JX @ JZ.T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("width", [32, 33])
def test_symmetric_deep_net_outputs_zero_and_keeps_one_copy_kernel(width, torch_threads):
    """f(θ(0), ·) = (f_A − f_B)/√2 is exactly 0: the copies run identical computations.

    An odd width puts the second copy's weights at an offset that is not a multiple of the
    SIMD width; a batched product over copies then rounds them differently (this failed
    with max|f| ≈ 2e-16 before each copy got its own equally aligned operands).
    """
    X = unit_rows(10, 4, 0)
    sym = DeepReLUNet(4, width, 2, symmetric=True, random_state=12)
    one = DeepReLUNet(4, width, 2, random_state=12)
    assert float(sym(X).detach().abs().max()) == 0.0  # exact by construction, see DeepReLUNet.forward
    scale = float(dynamic_kernel(one, X).abs().max())
    tol = torch.finfo(torch.float64).eps * scale * 100  # Θ sums O(depth·width) terms per entry
    assert torch.allclose(dynamic_kernel(sym, X), dynamic_kernel(one, X), rtol=0, atol=tol)


def test_kernel_at_init_is_the_modified_random_feature_gram():
    """H(0) = ΨΨᵀ with ψ(x) = m^{-1/2}[c_r φ(x, w_r)]_r, φ the ReLUNTK feature (Def. 3.2)."""
    X = unit_rows(12, 5, 1)
    m = 50
    c = 0.5 + torch.rand(m, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    base = TwoLayerReLU(5, m, random_state=4)
    net = TwoLayerReLU.from_weights(base.weight.detach(), base.sign, c)
    rf = levrf.RandomFeatures(levrf.ReLUNTK(), n_features=m).fit(X.numpy())
    rf.weights_, rf.importance_ = net.weight.detach().clone(), c.clone()
    Psi = torch.from_numpy(rf.transform(X.numpy()))
    assert Psi.shape == (12, m * 5)
    assert torch.allclose(dynamic_kernel(net, X), Psi @ Psi.T, rtol=0, atol=1e-12)


def test_deep_kernel_tends_to_deep_relu_ntk():
    """Monte Carlo: mean over seeds of Θ_m(x, z) within 4 standard errors of DeepReLUNTK(2)."""
    X = unit_rows(4, 3, 3)
    draws = torch.stack([dynamic_kernel(DeepReLUNet(3, 256, 2, random_state=s), X) for s in range(30)])
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])
    # finite width biases Θ by O(1/m); allow it on top of the Monte Carlo error
    assert bool(((mean - levrf.DeepReLUNTK(2)(X)).abs() <= 4 * se + 0.02).all())


def test_ntk_ridge_matches_direct_solve():
    X, Xt = unit_rows(15, 4, 5), unit_rows(6, 4, 6)
    y = torch.sin(3 * X[:, 0])
    K = levrf.ReLUNTK()
    pred = ntk_ridge(X, y, alpha=0.1, kappa=2.0, X_test=Xt)
    A = 4.0 * K(X) + 0.1 * torch.eye(15, dtype=torch.float64)
    assert torch.allclose(pred.train, 4.0 * K(X) @ torch.linalg.solve(A, y), atol=1e-12)
    assert torch.allclose(pred.test, 4.0 * K(Xt, X) @ torch.linalg.solve(A, y), atol=1e-12)
    # the fixed point of du/dt = κ²H(Y − u) − αu
    assert torch.allclose(4.0 * K(X) @ (y - pred.train), 0.1 * pred.train, atol=1e-12)
    assert ntk_ridge(X, y, 0.1).test is None


def test_validation_errors():
    with pytest.raises(ValueError, match="init"):
        TwoLayerReLU(3, 4, init="uniform")
    with pytest.raises(ValueError, match="even"):
        TwoLayerReLU(3, 5, symmetric=True)
    with pytest.raises(ValueError, match="X"):
        TwoLayerReLU(3, 4, init="leverage", alpha=0.1)
    with pytest.raises(TypeError, match="width"):
        TwoLayerReLU(3, 4.5)
    with pytest.raises(ValueError, match="kappa"):
        TwoLayerReLU(3, 4, kappa=-1.0)
    with pytest.raises(ValueError, match="depth"):
        DeepReLUNet(3, 4, depth=0)
    with pytest.raises(ValueError, match="alpha"):
        ntk_ridge(unit_rows(4, 2, 0), [1.0, 2, 3, 4], alpha=0.0)
    with pytest.raises(ValueError, match="y"):
        ntk_ridge(unit_rows(4, 2, 0), [1.0, 2], alpha=0.1)
    with pytest.raises(ValueError, match="Z"):
        dynamic_kernel(TwoLayerReLU(2, 4), unit_rows(4, 2, 0), unit_rows(3, 3, 0))
    with pytest.raises(TypeError, match="net"):
        dynamic_kernel("net", unit_rows(4, 2, 0))
    with pytest.raises(ValueError, match="bias"):
        leverage_init_(nn.Linear(2, 4), nn.Linear(4, 1), unit_rows(5, 2, 0), 0.1)
    with pytest.raises(ValueError, match="inputs"):
        leverage_init_(nn.Linear(2, 4, bias=False), nn.Linear(3, 1), unit_rows(5, 2, 0), 0.1)


class _FixedSampler(Sampler):
    """A stand-in "leverage" sampler with known output: checks the plumbing, not the scores."""

    name = "leverage"
    calls: list = []

    @classmethod
    def from_config(cls, config):
        cls.calls.append(config)
        return cls()

    def draw(self, kernel, X, m, generator):
        W = kernel.sample(m, X.shape[1], generator)
        imp = torch.linspace(0.5, 2.0, m, dtype=W.dtype)
        return WeightSample(W, imp, leverage=1.0 / imp**2, info={"stand_in": True})


def test_leverage_plumbing_with_stand_in_sampler(monkeypatch):
    """c_r lands in the importance buffer (folded into second.weight for leverage_init_)."""
    monkeypatch.setitem(SAMPLERS, "leverage", _FixedSampler)
    _FixedSampler.calls.clear()
    X = unit_rows(20, 3, 7)
    net = TwoLayerReLU(3, 8, init="leverage", alpha=0.2, kappa=2.0, X=X, symmetric=True, random_state=1)
    half = torch.linspace(0.5, 2.0, 4, dtype=torch.float64)
    assert torch.equal(net.importance, torch.cat([half, half]))
    assert _FixedSampler.calls[-1].alpha == pytest.approx(0.2 / 4.0)  # the ridge of κ²H + αI
    assert net.init_info == {"stand_in": True}
    first, second = nn.Linear(3, 6, bias=False).double(), nn.Linear(6, 1).double()
    a = torch.tensor([1.0, -1, 1, 1, -1, -1], dtype=torch.float64)
    with torch.no_grad():
        second.weight.copy_(a / math.sqrt(6))
        second.bias.zero_()
    sample = leverage_init_(first, second, X, alpha=0.2, generator=3)
    ref = TwoLayerReLU.from_weights(sample.weights, a, sample.importance)
    assert torch.equal(first.weight.detach(), sample.weights)
    block = second(torch.relu(first(X)))[:, 0]
    assert torch.allclose(block, ref(X), rtol=0, atol=1e-14)


@needs_leverage
def test_leverage_init_with_real_sampler():
    X = unit_rows(30, 4, 8)
    net = TwoLayerReLU(4, 200, init="leverage", alpha=0.05, X=X, random_state=2)
    assert bool((net.importance > 0).all()) and bool(torch.isfinite(net.importance).all())
    assert not torch.allclose(net.importance, torch.ones_like(net.importance))
    # H(0) is still the modified random-feature Gram matrix, and unbiased for H^cts on average
    H0 = dynamic_kernel(net, X)
    Hs = torch.stack([dynamic_kernel(TwoLayerReLU(4, 100, init="leverage", alpha=0.05, X=X, random_state=s), X)
                      for s in range(12)])
    se = Hs.std(0) / math.sqrt(12)
    assert bool(((Hs.mean(0) - levrf.ReLUNTK()(X)).abs() <= 5 * se + 1e-3).all())
    assert H0.shape == (30, 30)
    first, second = nn.Linear(4, 50, bias=False).double(), nn.Linear(50, 1, bias=False).double()
    a = torch.where(torch.arange(50) % 2 == 0, 1.0, -1.0).double()
    with torch.no_grad():
        second.weight.copy_(a / math.sqrt(50))
    sample = leverage_init_(first, second, X, alpha=0.05, generator=4)
    ref = TwoLayerReLU.from_weights(sample.weights, a, sample.importance)
    assert torch.allclose(second(torch.relu(first(X)))[:, 0], ref(X), rtol=0, atol=1e-13)


NETWORKS = {
    "two-layer": lambda **kw: TwoLayerReLU(5, 8, random_state=1, **kw),
    "deep": lambda **kw: DeepReLUNet(5, 8, 2, random_state=1, **kw),
    "deep-symmetric": lambda **kw: DeepReLUNet(5, 8, 2, symmetric=True, random_state=1, **kw),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_networks_check_input_width(name):
    """Was torch's "mat1 and mat2 shapes cannot be multiplied"."""
    net = NETWORKS[name]()
    wrong = unit_rows(4, 3, 0)
    for call in (net, lambda X: dynamic_kernel(net, X), lambda X: empirical_ntk(net, X),
                 lambda X: train_regularized(net, X, torch.ones(4, dtype=torch.float64), 0.1, steps=1, quiet=True)):
        with pytest.raises(ValueError, match="X has 3 columns but the network was built for in_features=5"):
            call(wrong)
    with pytest.raises(ValueError, match="Z has 3 columns but the network was built for in_features=5"):
        dynamic_kernel(net, unit_rows(4, 5, 0), wrong)
    with pytest.raises(ValueError, match="Z has 3 columns"):
        net.tangent_kernel(unit_rows(4, 5, 0), wrong)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_networks_cast_inputs_to_their_dtype(name):
    """Like the estimators: a float32 (or NumPy, or list) input to a float64 net is computed in float64."""
    net = NETWORKS[name]()
    X64 = unit_rows(6, 5, 1)
    X32 = X64.to(torch.float32)
    exact = net(X32.to(torch.float64)).detach()  # the float32 values, computed in float64
    scale = float(exact.abs().max())
    tol = 16 * torch.finfo(torch.float64).eps * max(scale, 1.0)  # only BLAS order can differ
    for X in (X32, X32.numpy(), X32.tolist()):
        out = net(X)
        assert out.dtype == torch.float64
        torch.testing.assert_close(out.detach(), exact, rtol=0, atol=tol)
    net32 = NETWORKS[name](dtype="float32")
    assert net32(X64).dtype == torch.float32
    # the network's own X dtype follows, but gradients still reach a tensor input
    Xg = X32.clone().requires_grad_(True)
    net(Xg).sum().backward()
    assert Xg.grad is not None and Xg.grad.dtype == torch.float32


@pytest.mark.parametrize("name", list(NETWORKS))
def test_networks_refuse_non_finite_inputs(name):
    net = NETWORKS[name]()
    X = unit_rows(4, 5, 2)
    X[1, 2] = float("nan")
    with pytest.raises(ValueError, match="X contains NaN"):
        net(X)
    with pytest.raises(ValueError, match="X contains NaN"):
        dynamic_kernel(net, X)
    with pytest.raises(ValueError, match="Z contains NaN"):
        net.tangent_kernel(unit_rows(4, 5, 2), X)


@pytest.mark.parametrize("argument", ["weight", "sign", "importance"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_from_weights_refuses_non_finite_weights(argument, value):
    """Was: NaN weights flowed through to NaN outputs."""
    base = TwoLayerReLU(3, 4, random_state=0)
    parts = {"weight": base.weight.detach().clone(), "sign": base.sign.clone(),
             "importance": torch.ones(4, dtype=torch.float64)}
    parts[argument].view(-1)[1] = value
    with pytest.raises(ValueError, match=f"{argument}.*NaN or infinite"):
        TwoLayerReLU.from_weights(**parts)


def test_from_weights_checks_shapes_types_and_keeps_float32():
    W = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    net = TwoLayerReLU.from_weights(W, [1, -1, 1, -1])
    assert net.weight.dtype == torch.float32 and torch.equal(net.weight.detach(), W)
    with pytest.raises(ValueError, match="sign.*4 entries, got 3"):
        TwoLayerReLU.from_weights(W, [1, -1, 1])
    with pytest.raises(TypeError, match="sign"):
        TwoLayerReLU.from_weights(W, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="importance must be > 0"):
        TwoLayerReLU.from_weights(W, [1, -1, 1, -1], [1.0, 0.0, 1.0, 1.0])


def test_meta_and_unavailable_devices_are_refused_with_a_value_error():
    """Was: a torch RuntimeError from deep inside (meta tensors hold no values)."""
    for device in ("meta", "gpu", "cuda:99" if torch.cuda.is_available() else "cuda"):
        with pytest.raises(ValueError, match="device"):
            TwoLayerReLU(3, 4, device=device)
        with pytest.raises(ValueError, match="device"):
            DeepReLUNet(3, 4, device=device)
    with pytest.raises(ValueError, match="weight's device"):
        TwoLayerReLU.from_weights(torch.ones(4, 3, device="meta"), torch.ones(4))
    meta_net = TwoLayerReLU(3, 4).to("meta")
    with pytest.raises(ValueError, match="net's device"):
        dynamic_kernel(meta_net, unit_rows(4, 3, 0))
    with pytest.raises(ValueError, match="net's device"):
        train_regularized(meta_net, unit_rows(4, 3, 0), torch.ones(4), 0.1, steps=1, quiet=True)
    with pytest.raises(ValueError, match="first.weight's device"):
        leverage_init_(nn.Linear(3, 4, bias=False, device="meta"), nn.Linear(4, 1), unit_rows(5, 3, 0), 0.1)
    with pytest.raises(ValueError, match="device"):
        levrf.RandomFeatures(device="meta").fit(unit_rows(5, 3, 0).numpy())


def test_empirical_ntk_validates_and_casts_inputs():
    net = TwoLayerReLU(4, 16, random_state=2)
    X = unit_rows(5, 4, 3)
    ref = dynamic_kernel(net, X)
    tol = 64 * torch.finfo(torch.float64).eps * float(ref.abs().max())
    torch.testing.assert_close(empirical_ntk(net, X.to(torch.float32).numpy()),
                               dynamic_kernel(net, X.to(torch.float32)), rtol=0, atol=tol)
    with pytest.raises(TypeError, match="batch_size"):
        empirical_ntk(net, X, batch_size=2.5)
    with pytest.raises(TypeError, match="net"):
        empirical_ntk("net", X)
