"""device="cuda" gives the CPU's numbers: samplers, solvers, CV, networks (skipped without a GPU).

Weights are drawn from a CPU generator whatever the device, so a GPU fit sees the same weights
as the CPU fit and must agree with it to rounding (float64).
"""

import numpy as np
import pytest
import torch

import levrf
from levrf.nn import TwoLayerReLU, train_regularized

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 4))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(600)
    return X, y


@pytest.mark.parametrize(
    "options",
    [
        {"sampling": "gaussian"},
        {"sampling": "qmc"},
        {"sampling": "leverage"},
        {"sampling": "leverage", "leverage_method": "approximate"},
        {"sampling": "leverage", "n_features": 400},  # m ≥ 2 s_α: leverage reweighting itself
        {"sampling": "gaussian", "gram_dtype": "float32"},
    ],
    ids=lambda o: "-".join(str(v) for v in o.values()),
)
def test_random_feature_ridge_on_cuda_equals_cpu(data, options):
    X, y = data
    kw = dict(kernel=levrf.GaussianKernel(1.5), n_features=64, alpha=1e-2, random_state=3, batch_size=250)
    kw.update(options)
    cpu = levrf.RandomFeatureRidge(**kw).fit(X, y)
    gpu = levrf.RandomFeatureRidge(device="cuda", **kw).fit(X, y)
    assert gpu.coef_.device.type == "cuda" and gpu.features_.weights_.device.type == "cuda"
    np.testing.assert_allclose(gpu.features_.weights_.cpu().numpy(), cpu.features_.weights_.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6, atol=1e-6)


def test_ridge_cv_and_exact_classifier_on_cuda(data):
    X, y = data
    kw = dict(kernel=levrf.GaussianKernel(1.5), n_features=64, alphas=(1e-3, 1e-1, 10.0), random_state=0)
    cpu = levrf.RandomFeatureRidgeCV(**kw).fit(X, y)
    gpu = levrf.RandomFeatureRidgeCV(device="cuda", **kw).fit(X, y)
    assert gpu.alpha_ == cpu.alpha_
    np.testing.assert_allclose(gpu.cv_mse_, cpu.cv_mse_, rtol=1e-8)
    labels = y > np.median(y)
    clf = levrf.KernelRidgeClassifier(levrf.GaussianKernel(1.5), alpha=0.1, device="cuda").fit(X, labels)
    ref = levrf.KernelRidgeClassifier(levrf.GaussianKernel(1.5), alpha=0.1).fit(X, labels)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(X), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("init", ["gaussian", "leverage"])
def test_two_layer_network_trains_on_cuda_as_on_cpu(init):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 5, generator=g, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.sin(3 * X[:, 0])
    nets = []
    for device in ("cpu", "cuda"):
        extra = {"alpha": 0.1, "X": X} if init == "leverage" else {}
        net = TwoLayerReLU(5, 200, init=init, random_state=2, device=device, **extra)
        train_regularized(net, X.to(device), y.to(device), alpha=0.1, steps=20, quiet=True)
        nets.append(net)
    np.testing.assert_allclose(nets[1].weight.detach().cpu().numpy(), nets[0].weight.detach().numpy(), rtol=1e-8, atol=1e-8)
