"""The shared input checks: what they accept, what they convert to, and the errors they raise."""

import numpy as np
import pandas as pd
import pytest
import torch

from levrf._validation import (
    as_generator,
    as_matrix,
    check_positive,
    check_positive_int,
    check_probability,
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
