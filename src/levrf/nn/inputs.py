"""How the ``levrf.nn`` networks read their inputs.

Like levrf's estimators (and unlike ``torch.nn.Linear``), a network casts its input to its own
dtype and device: a float32 array given to a float64 network is computed in float64. The width
must be the ``in_features`` the network was built for, and NaN/inf raise ``ValueError``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .._validation import check_network_input

_VALUES_CHECKED = contextvars.ContextVar("levrf_nn_values_checked", default=False)


@contextmanager
def values_checked() -> Iterator[None]:
    """Inside this block networks skip the NaN/inf check of their inputs.

    For callers that checked the inputs already: under ``torch.func`` transforms (``vmap``)
    a value cannot be read at all, and a training loop need not re-read X at every step.
    Shapes, dtype and device are still checked and cast.
    """
    token = _VALUES_CHECKED.set(True)
    try:
        yield
    finally:
        _VALUES_CHECKED.reset(token)


def network_input(X, in_features: int, reference: torch.Tensor, name: str = "X") -> torch.Tensor:
    """``X`` as an (n, in_features) tensor with the dtype and device of ``reference`` (a weight)."""
    return check_network_input(X, in_features, dtype=reference.dtype, device=reference.device, name=name,
                               check_finite=not _VALUES_CHECKED.get())
