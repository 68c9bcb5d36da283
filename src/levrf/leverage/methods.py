"""``ridge_leverage``: the public entry point, and the choice among leverage methods.

``method="exact"`` factors ``K + λI`` (:mod:`levrf.leverage.scores`); ``"approximate"`` is the
large-n method (``"subsample"``, chosen by measurement, see ``docs/leverage.md``); the other
approximate estimators stay selectable by name (:mod:`levrf.leverage.approximate`).
``"auto"`` (the default of the estimators) is :func:`choose_leverage_method`: exact where the
n × n matrix fits the ``leverage_exact_bytes`` budget of :mod:`levrf.config`, approximate above.
No method builds an n × n matrix above that budget: ``"exact"`` is refused there.
"""

from __future__ import annotations

import math

import torch

from .._validation import as_generator, check_positive, check_positive_int
from ..config import get_budget
from ..kernels import Kernel
from ..rows import Rows
from .approximate import NystromLeverage, SubsampleLeverage, pool_gram_leverage
from .scores import ExactLeverage, as_float64, check_kernel, check_weights

#: what ``method="approximate"`` means
APPROXIMATE_DEFAULT = "subsample"
#: methods that give a reusable τ(·) for any weights (``"auto"`` resolves to one of the others)
SCORER_METHODS = ("auto", "exact", "approximate", "subsample", "nystrom")
#: every method accepted by ``ridge_leverage``
METHODS = (*SCORER_METHODS, "pool_gram")


def check_method(method, allowed: tuple[str, ...] = METHODS) -> str:
    if not isinstance(method, str) or method not in allowed:
        raise ValueError(f"method must be one of {list(allowed)}, got {method!r}")
    return method


def exact_matrix_bytes(n_samples: int) -> int:
    """Bytes of the n × n float64 kernel matrix (and of its Cholesky factor) of exact leverage."""
    return 8 * int(n_samples) ** 2


def choose_leverage_method(n_samples: int, *, in_memory: bool = True, budget_bytes: int | None = None) -> str:
    """The ``method="auto"`` decision: ``"exact"`` or ``"approximate"`` for n training rows.

    Exact leverage factors the n × n matrix ``K + λI`` (O(n²) memory, O(n³) time: 22,000 rows
    took 369 s and 16 GB). It is chosen only where that matrix fits ``budget_bytes`` (default:
    the ``leverage_exact_bytes`` budget of :mod:`levrf.config`, 32 MiB, n ≤ 2,048 rows: about the
    approximate method's own 2,000-row subsample, so below it approximating saves nothing) and
    the rows are in memory; above, the row subsample (``"approximate"``), whose cost does not
    depend on n.

    Parameters
    ----------
    n_samples : int >= 1
        Number of training rows n.
    in_memory : bool, default=True
        Whether the rows are one in-memory tensor (Dask rows allow only the subsample).
    budget_bytes : int, optional
        The budget (default: ``levrf.get_config()["leverage_exact_bytes"]``).

    Returns
    -------
    str
        ``"exact"`` or ``"approximate"``.

    Examples
    --------
    >>> choose_leverage_method(2000), choose_leverage_method(22_000)
    ('exact', 'approximate')
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    if not isinstance(in_memory, bool):
        raise TypeError(f"in_memory must be a bool, got {type(in_memory).__name__}")
    budget = get_budget("leverage_exact_bytes") if budget_bytes is None else check_positive_int(budget_bytes, "budget_bytes")
    return "exact" if in_memory and exact_matrix_bytes(n_samples) <= budget else "approximate"


def max_exact_rows() -> int:
    """The most rows whose n × n float64 matrix fits the ``leverage_exact_bytes`` budget (≥ 1)."""
    return max(1, math.isqrt(get_budget("leverage_exact_bytes") // 8))


def check_exact_fits(n_samples: int, what: str = "leverage_method='exact'") -> None:
    """Refuse exact leverage on more rows than the ``leverage_exact_bytes`` budget allows."""
    budget = get_budget("leverage_exact_bytes")
    need = exact_matrix_bytes(n_samples)
    if need > budget:
        raise ValueError(
            f"{what} needs an {n_samples} x {n_samples} kernel matrix ({need / 2**20:,.0f} MiB), above the "
            f"leverage_exact_bytes budget ({budget / 2**20:,.0f} MiB); use leverage_method='auto' or "
            "'approximate' (a row subsample, cost independent of n), or raise the budget with "
            "levrf.config_context(leverage_exact_bytes=...)"
        )


def resolve_method(method, n_samples: int, *, in_memory: bool = True) -> str:
    """A scorer method with ``"auto"`` decided (:func:`choose_leverage_method`) and ``"exact"``
    checked against the budget."""
    method = check_method(method, SCORER_METHODS)
    if method == "auto":
        return choose_leverage_method(n_samples, in_memory=in_memory)
    if method == "exact" and in_memory:
        check_exact_fits(n_samples)
    return method


def leverage_function(
    kernel: Kernel,
    X,
    alpha: float,
    method: str = "exact",
    *,
    rank: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
):
    """A reusable τ_α(·) for fixed data: ``f(W) -> τ`` with ``f.statistical_dimension(α)``.

    ``X`` is a tensor or :class:`levrf.rows.Rows`; rows that are not in memory (Dask) allow only
    the subsample method, which gathers its ``rank`` rows and nothing else. The returned object
    also has ``at_alpha(α')`` (same data, other ridge) where supported.
    """
    method = check_method(method, SCORER_METHODS)
    if not isinstance(X, Rows):
        X = as_float64(check_kernel(kernel), X)
    in_memory = not isinstance(X, Rows) or X.in_memory
    method = resolve_method(method, int(X.shape[0]), in_memory=in_memory)
    if method == "approximate":
        method = APPROXIMATE_DEFAULT
    if isinstance(X, Rows):
        if X.in_memory:
            X = X.X
        elif method != "subsample":
            raise ValueError(
                f"leverage method {method!r} needs the whole data in memory; with a Dask array X use "
                "leverage_method='approximate' (exact leverage on a uniform row subsample)"
            )
    if method == "exact":
        return ExactLeverage(kernel, X, alpha, batch_size=batch_size)
    gen = as_generator(generator)
    cls = SubsampleLeverage if method == "subsample" else NystromLeverage
    return cls(kernel, X, alpha, rank=rank, generator=gen, batch_size=batch_size)


def ridge_leverage(
    kernel: Kernel,
    X,
    W,
    alpha: float,
    method: str = "exact",
    batch_size: int | None = None,
    *,
    rank: int | None = None,
    random_state=None,
) -> torch.Tensor:
    """Ridge leverage function τ_λ(w_r) = tr[Φ(w_r)ᵀ (K + λI)⁻¹ Φ(w_r)] (paper Def. 3.1).

    Parameters
    ----------
    kernel : levrf kernel with random features (and a closed form for ``"exact"``/``"nystrom"``)
    X : (n, d) array-like, the data that define K
    W : (m, d1) array-like, the weights to score
    alpha : float > 0, the ridge λ
    method : {"exact", "auto", "approximate", "subsample", "nystrom", "pool_gram"}
        ``"exact"``: one Cholesky of K + λI, O(n³ + n²·m·d2) time, O(n²) memory (refused
        above the ``leverage_exact_bytes`` budget of :mod:`levrf.config`). ``"auto"``: exact
        within that budget, else ``"approximate"`` (:func:`choose_leverage_method`).
        ``"approximate"`` (= ``"subsample"``): exact leverage on ``rank`` random rows at ridge
        λ·rank/n; time independent of n. ``"nystrom"``: Nyström K with ``rank`` landmarks,
        O(n·rank) memory. ``"pool_gram"``: W itself is the Monte Carlo estimate of K
        (leave-one-out), O((m·d2)²) memory.
    batch_size : int, optional
        Weights per chunk (default: from a 64 MiB budget).
    rank : int, optional
        Rows used by the approximate methods (default ``min(n, 2000)``).
    random_state : int or torch.Generator, optional
        Chooses the rows of the approximate methods.

    Returns
    -------
    torch.Tensor of shape (m,), float64, on the kernel's device.

    Examples
    --------
    >>> import torch, levrf
    >>> k = levrf.GaussianKernel(1.0)
    >>> X = torch.randn(50, 3, dtype=torch.float64)
    >>> tau = levrf.ridge_leverage(k, X, k.sample(200, 3, 0), alpha=0.1)
    >>> tau.shape
    torch.Size([200])
    """
    check_kernel(kernel)
    alpha = check_positive(alpha, "alpha")
    method = check_method(method)
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    if rank is not None:
        check_positive_int(rank, "rank")
    if method == "pool_gram":
        return pool_gram_leverage(kernel, X, W, alpha)
    Xt = as_float64(kernel, X)
    W = check_weights(kernel, Xt, W)
    f = leverage_function(
        kernel, Xt, alpha, method, rank=rank, generator=as_generator(random_state), batch_size=batch_size
    )
    return f(W)
