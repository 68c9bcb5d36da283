"""Shared fixtures: explicitly seeded randomness, so every test sees the same numbers each run."""

import numpy as np
import pytest
import torch

SEED = 20240601


@pytest.fixture
def rng() -> np.random.Generator:
    """A NumPy generator with a fixed seed."""
    return np.random.default_rng(SEED)


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU torch generator with a fixed seed."""
    return torch.Generator().manual_seed(SEED)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of many tiny tensor ops: hand-offs would cost more than the work.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request) -> int:
    """Run a test once with one torch thread and once with two, then restore the setting.

    BLAS kernels split and order their sums by thread count, so a result that is exact only by
    an accident of summation order differs between the two runs even on a 2-core machine.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)
