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
