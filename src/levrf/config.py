"""Memory budgets of levrf's chunked computations, in one place (like ``sklearn.get_config``).

Every loop that works in chunks to bound its memory reads its budget here, when it starts:

``chunk_bytes`` (128 MiB)
    One row chunk of the random feature map ψ (``RandomFeatures.transform`` and every ridge fit
    and prediction that streams over Ψ), and one row block of ``KernelRidge``'s kernel matrices.
``leverage_chunk_bytes`` (64 MiB)
    The intermediates of one chunk of weights when leverage scores are computed
    (:class:`levrf.leverage.ExactLeverage`, the rejection sampler's feature norms, the
    ``pool_gram`` diagonal blocks).
``leverage_exact_bytes`` (32 MiB)
    The largest n × n float64 kernel matrix that exact leverage (``leverage_method="exact"``,
    the ``"rejection"`` sampler) may build; ``leverage_method="auto"`` uses the exact method
    up to it (2,048 rows) and a row subsample above. Above it, ``"exact"`` is refused with a
    message: raise this budget to run it anyway.
``leverage_row_chunk`` (4096 rows)
    Rows per chunk when the approximate leverage methods (``nystrom``, ``pool_gram``) stream
    over the data.
``pair_block_elements`` (2²² elements, 32 MiB in float64)
    The gathered blocks of the pairwise recomputations of the closed forms (near-parallel
    angles, cancelled distances).
``train_block_bytes`` (4 MiB)
    The neuron blocks of :func:`levrf.nn.train_regularized` for two-layer networks, sized to
    stay in cache.
``cg_cache_bytes`` (1 GiB)
    The largest matrix of base features (n × D for random features, n × M ``K(X, C)`` for
    Nyström) that ``solver="cg"`` computes once and keeps for its iterations (rows in memory
    only); above it every iteration recomputes the features chunk by chunk
    (:mod:`levrf.ridge.cg`). 1 GiB holds ``K(X, C)`` for 20,000 rows at M = 4,096 (655 MB), where
    recomputing it made each CG fit 3–6× slower than caching it
    (``benchmarks/results/nystroem_timing.md``); scikit-learn's ``Nystroem`` materialises the same
    n × M matrix.

A budget sets the chunk *size*; results agree across budgets up to rounding (sums are
regrouped), and the defaults reproduce the chunks levrf has always used. Settings are per
thread and per asynchronous task (a :mod:`contextvars` variable); Dask workers run with their
own (default) settings.

Examples
--------
>>> import levrf
>>> with levrf.config_context(chunk_bytes=16 * 2**20):
...     levrf.get_config()["chunk_bytes"]
16777216
>>> levrf.get_config()["chunk_bytes"]
134217728
"""

from __future__ import annotations

import contextvars
import numbers
from collections.abc import Iterator
from contextlib import contextmanager

#: the budgets and their defaults (the values levrf used before they were configurable)
DEFAULTS: dict[str, int] = {
    "chunk_bytes": 128 * 2**20,
    "leverage_chunk_bytes": 64 * 2**20,
    "leverage_row_chunk": 4096,
    "leverage_exact_bytes": 32 * 2**20,
    "pair_block_elements": 2**22,
    "train_block_bytes": 4 * 2**20,
    "cg_cache_bytes": 2**30,
}

_CONFIG: contextvars.ContextVar[dict[str, int]] = contextvars.ContextVar("levrf_config", default=DEFAULTS)


def _checked(settings: dict) -> dict[str, int]:
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown levrf setting(s) {unknown}; the settings are {sorted(DEFAULTS)}")
    out = {}
    for name, value in settings.items():
        if value is None:  # None leaves a setting as it is, as in sklearn.set_config
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
        out[name] = int(value)
    return out


def get_config() -> dict[str, int]:
    """The current budgets, a new dict (changing it changes nothing; use :func:`set_config`)."""
    return dict(_CONFIG.get())


def get_budget(name: str) -> int:
    """One current budget, e.g. ``get_budget("chunk_bytes")``."""
    try:
        return _CONFIG.get()[name]
    except KeyError:
        raise ValueError(f"unknown levrf setting {name!r}; the settings are {sorted(DEFAULTS)}") from None


def set_config(
    *,
    chunk_bytes: int | None = None,
    leverage_chunk_bytes: int | None = None,
    leverage_row_chunk: int | None = None,
    leverage_exact_bytes: int | None = None,
    pair_block_elements: int | None = None,
    train_block_bytes: int | None = None,
    cg_cache_bytes: int | None = None,
) -> None:
    """Change budgets for the rest of this thread or task (``None`` keeps a setting)."""
    changes = _checked({
        "chunk_bytes": chunk_bytes,
        "leverage_chunk_bytes": leverage_chunk_bytes,
        "leverage_row_chunk": leverage_row_chunk,
        "leverage_exact_bytes": leverage_exact_bytes,
        "pair_block_elements": pair_block_elements,
        "train_block_bytes": train_block_bytes,
        "cg_cache_bytes": cg_cache_bytes,
    })
    _CONFIG.set({**_CONFIG.get(), **changes})


@contextmanager
def config_context(
    *,
    chunk_bytes: int | None = None,
    leverage_chunk_bytes: int | None = None,
    leverage_row_chunk: int | None = None,
    leverage_exact_bytes: int | None = None,
    pair_block_elements: int | None = None,
    train_block_bytes: int | None = None,
    cg_cache_bytes: int | None = None,
) -> Iterator[dict[str, int]]:
    """Budgets changed inside a ``with`` block and restored after it (even on an exception).

    Parameters
    ----------
    chunk_bytes, leverage_chunk_bytes, leverage_row_chunk, leverage_exact_bytes, pair_block_elements, train_block_bytes, cg_cache_bytes : int >= 1, optional
        The budgets of the module docstring; ``None`` keeps the current value.

    Yields
    ------
    dict
        The settings in force inside the block.
    """
    changes = _checked({
        "chunk_bytes": chunk_bytes,
        "leverage_chunk_bytes": leverage_chunk_bytes,
        "leverage_row_chunk": leverage_row_chunk,
        "leverage_exact_bytes": leverage_exact_bytes,
        "pair_block_elements": pair_block_elements,
        "train_block_bytes": train_block_bytes,
        "cg_cache_bytes": cg_cache_bytes,
    })
    token = _CONFIG.set({**_CONFIG.get(), **changes})
    try:
        yield get_config()
    finally:
        _CONFIG.reset(token)
