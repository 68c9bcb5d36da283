"""The shared input checks: what they accept, what they convert to, and the errors they raise."""

import numpy as np
import pandas as pd
import pytest
import torch

import levrf
from levrf._validation import (
    as_generator,
    as_matrix,
    as_vector,
    check_network_input,
    check_positive,
    check_positive_int,
    check_probability,
    check_random_state,
    resolve_device,
    resolve_dtype,
)


def test_as_matrix_converts_every_input_kind_to_float64():
    ref = np.arange(6, dtype=np.int64).reshape(3, 2)
    for X in (ref, ref.tolist(), pd.DataFrame(ref), torch.from_numpy(ref), ref.astype(np.float32),
              ref.astype(object)):
        T = as_matrix(X)
        assert isinstance(T, torch.Tensor) and T.dtype == torch.float64 and T.shape == (3, 2)
        assert torch.equal(T, torch.from_numpy(ref.astype(np.float64)))
    assert as_matrix(ref, dtype=torch.float32).dtype == torch.float32


def test_as_matrix_does_not_alias_torch_gradients():
    T = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    assert not as_matrix(T).requires_grad


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_as_matrix_rejects_non_finite(value):
    X = np.ones((3, 2))
    X[1, 1] = value
    with pytest.raises(ValueError, match="Zed contains NaN or infinite"):
        as_matrix(X, "Zed")
    with pytest.raises(ValueError, match="Zed"):
        as_matrix(torch.from_numpy(X), "Zed")


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_as_matrix_rejects_wrong_rank(shape):
    with pytest.raises(ValueError, match="Zed must be 2-D"):
        as_matrix(np.ones(shape), "Zed")


def test_as_matrix_one_dimensional_hint():
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        as_matrix(np.ones(4))


def test_as_matrix_rejects_empty_unless_allowed():
    with pytest.raises(ValueError, match="at least one row"):
        as_matrix(np.ones((0, 3)))
    assert as_matrix(np.ones((0, 3)), allow_empty=True).shape == (0, 3)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"]]),
        pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}),
        np.ones((2, 2), dtype=complex),
        torch.ones(2, 2, dtype=torch.complex128),
        torch.ones(2, 2, dtype=torch.bool),
    ],
    ids=["strings", "mixed-frame", "complex", "torch-complex", "torch-bool"],
)
def test_as_matrix_rejects_non_real_data(bad):
    with pytest.raises(TypeError, match="Zed"):
        as_matrix(bad, "Zed")


def test_as_matrix_none_and_ragged():
    with pytest.raises(ValueError, match="Zed"):
        as_matrix(None, "Zed")
    with pytest.raises(ValueError, match="Zed"):
        as_matrix([[1.0, 2.0], [3.0]], "Zed")


def test_check_positive():
    assert check_positive(2, "a") == 2.0 and isinstance(check_positive(2, "a"), float)
    assert check_positive(np.float32(0.5), "a") == 0.5
    assert check_positive(0, "a", allow_zero=True) == 0.0
    for bad in (0, -1e-300, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="alpha"):
            check_positive(bad, "alpha")
    for bad in ("1", None, True, [1.0], 1 + 0j):
        with pytest.raises(TypeError, match="alpha"):
            check_positive(bad, "alpha")


def test_check_positive_int():
    assert check_positive_int(np.int64(3), "m") == 3
    for bad in (0, -2):
        with pytest.raises(ValueError, match="m must be >= 1"):
            check_positive_int(bad, "m")
    for bad in (2.0, "2", None, False):
        with pytest.raises(TypeError, match="m must be an integer"):
            check_positive_int(bad, "m")


def test_check_probability():
    assert check_probability(0.25, "delta") == 0.25
    for bad in (0.0, 1.0, -0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="delta"):
            check_probability(bad, "delta")
    with pytest.raises(TypeError, match="delta"):
        check_probability("0.1", "delta")


def test_as_generator_is_reproducible():
    a = torch.randn(5, generator=as_generator(7))
    b = torch.randn(5, generator=as_generator(np.int64(7)))
    assert torch.equal(a, b)
    assert torch.equal(torch.randn(5, generator=as_generator(None)), torch.randn(5, generator=as_generator(0)))
    gen = torch.Generator().manual_seed(1)
    assert as_generator(gen) is gen
    r1 = as_generator(np.random.RandomState(3))
    r2 = as_generator(np.random.RandomState(3))
    assert torch.equal(torch.randn(3, generator=r1), torch.randn(3, generator=r2))


def test_as_generator_accepts_numpy_generators_for_internal_arguments():
    r1, r2 = as_generator(np.random.default_rng(4)), as_generator(np.random.default_rng(4))
    assert torch.equal(torch.randn(3, generator=r1), torch.randn(3, generator=r2))


def test_as_generator_errors_name_the_argument():
    with pytest.raises(TypeError, match="random_state"):
        as_generator("7")
    with pytest.raises(TypeError, match="random_state"):
        as_generator(1.5)
    with pytest.raises(ValueError, match="random_state"):
        as_generator(-1)
    with pytest.raises(TypeError, match="generator"):
        as_generator("7", name="generator")


def test_resolve_dtype_and_device():
    assert resolve_dtype("float64") is torch.float64
    assert resolve_dtype("float32") is torch.float32
    assert resolve_dtype(torch.float32) is torch.float32
    assert resolve_dtype(np.float64) is torch.float64
    for bad in ("float16", "double", torch.int64, None):
        with pytest.raises(ValueError, match="dtype"):
            resolve_dtype(bad)
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("not-a-device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("device", ["meta", "cuda:99", "xla", "cpu:garbage", "mps", "ipu"])
def test_resolve_device_refuses_devices_levrf_cannot_compute_on(device):
    with pytest.raises(ValueError, match="where"):
        resolve_device(device, name="where")


def test_resolve_device_refuses_non_strings_and_meta_tensors():
    with pytest.raises(TypeError, match="device"):
        resolve_device(0)
    with pytest.raises(ValueError, match="Zed's device"):
        as_matrix(torch.ones(2, 2, device="meta"), "Zed")
    with pytest.raises(ValueError, match="sign's device"):
        as_vector(torch.ones(2, device="meta"), 2, "sign", dtype=torch.float64, device=torch.device("cpu"))


def test_check_random_state_seeds():
    assert check_random_state(None) == 0 and check_random_state(np.int64(5)) == 5
    # a NumPy generator advances: one fresh seed per call, reproducible from its own seed
    g = np.random.default_rng(1)
    seeds = [check_random_state(g) for _ in range(3)]
    assert len(set(seeds)) == 3
    assert seeds == [check_random_state(h) for h in [np.random.default_rng(1)] * 3]
    assert check_random_state(np.random.RandomState(2)) == np.random.RandomState(2).randint(0, 2**31 - 1)
    with pytest.raises(ValueError, match="random_state"):
        check_random_state(-1)
    with pytest.raises(ValueError, match="random_state"):
        check_random_state(2**64)


@pytest.mark.parametrize("bad", [torch.Generator(), True, "3", 1.5, [1]],
                         ids=["torch-generator", "bool", "str", "float", "list"])
def test_check_random_state_type_errors_name_the_argument(bad):
    with pytest.raises(TypeError, match="seed"):
        check_random_state(bad, name="seed")


def test_check_network_input():
    X = torch.ones(3, 4, dtype=torch.float32, requires_grad=True)
    T = check_network_input(X, 4, dtype=torch.float64, device=torch.device("cpu"))
    assert T.dtype == torch.float64 and T.requires_grad  # cast, autograd graph kept
    assert check_network_input([[1, 2]], 2, dtype=torch.float32, device=torch.device("cpu")).dtype == torch.float32
    with pytest.raises(ValueError, match="X has 3 columns but the network was built for in_features=5"):
        check_network_input(np.ones((2, 3)), 5, dtype=torch.float64, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="X has 3 columns but the network was built for in_features=5"):
        check_network_input(torch.ones(2, 3), 5, dtype=torch.float64, device=torch.device("cpu"))
    with pytest.raises(ValueError, match=r"Zed must be 2-D.*reshape\(1, -1\)"):
        check_network_input(torch.ones(3), 3, dtype=torch.float64, device=torch.device("cpu"), name="Zed")
    with pytest.raises(ValueError, match="Zed contains NaN"):
        check_network_input(torch.tensor([[1.0, float("nan")]]), 2, dtype=torch.float64,
                            device=torch.device("cpu"), name="Zed")
    with pytest.raises(TypeError, match="X must hold real numbers"):
        check_network_input(torch.ones(2, 2, dtype=torch.bool), 2, dtype=torch.float64, device=torch.device("cpu"))


def _estimators():
    yield "features", lambda rs: levrf.RandomFeatures(levrf.GaussianKernel(1.0), n_features=8, random_state=rs)
    yield "rf-ridge", lambda rs: levrf.RandomFeatureRidge(levrf.GaussianKernel(1.0), n_features=8, random_state=rs)
    yield "rf-ridge-cv", lambda rs: levrf.RandomFeatureRidgeCV(kernel=levrf.GaussianKernel(1.0), n_features=8,
                                                               random_state=rs)


def _weights(model):
    return (model if isinstance(model, levrf.RandomFeatures) else model.features_).weights_


@pytest.mark.parametrize("name,make", list(_estimators()), ids=[n for n, _ in _estimators()])
def test_estimator_random_state(name, make):
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = X[:, 0]
    model = make(4).fit(X, y)
    first = _weights(model).clone()
    assert torch.equal(_weights(model.fit(X, y)), first)  # same int: same weights on refit
    assert torch.equal(_weights(make(4).fit(X, y)), first)
    gen = np.random.default_rng(3)
    drawn = make(gen).fit(X, y)
    seed = np.random.default_rng(3).integers(0, 2**31 - 1)  # the one seed drawn per fit
    assert torch.equal(_weights(drawn), _weights(make(int(seed)).fit(X, y)))
    assert not torch.equal(_weights(drawn).clone(), _weights(drawn.fit(X, y)))  # it advanced
    for bad in (torch.Generator().manual_seed(1), True, "4", 4.0):
        with pytest.raises(TypeError, match="random_state"):
            make(bad).fit(X, y)


@pytest.mark.parametrize("cls", [levrf.nn.TwoLayerReLU, levrf.nn.DeepReLUNet])
def test_network_random_state(cls):
    weights = (lambda net: net.weight) if cls is levrf.nn.TwoLayerReLU else (lambda net: net.weights[0])
    assert torch.equal(weights(cls(3, 6, random_state=2)), weights(cls(3, 6, random_state=2)))
    assert torch.equal(weights(cls(3, 6)), weights(cls(3, 6, random_state=0)))  # None means seed 0
    seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
    assert torch.equal(weights(cls(3, 6, random_state=np.random.default_rng(5))), weights(cls(3, 6, random_state=seed)))
    for bad in (torch.Generator().manual_seed(1), False, "2", 2.0):
        with pytest.raises(TypeError, match="random_state"):
            cls(3, 6, random_state=bad)
