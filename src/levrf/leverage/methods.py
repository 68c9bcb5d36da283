"""``ridge_leverage``: the public entry point, and the choice among leverage methods.

``method="exact"`` factors ``K + λI`` (:mod:`levrf.leverage.scores`); ``"approximate"`` is the
large-n default (``"subsample"``, chosen by measurement, see ``docs/leverage.md``); the other
approximate estimators stay selectable by name (:mod:`levrf.leverage.approximate`).
"""

from __future__ import annotations

import torch

from .._validation import as_generator, check_positive, check_positive_int
from ..kernels import Kernel
from ..rows import Rows
from .approximate import NystromLeverage, SubsampleLeverage, pool_gram_leverage
from .scores import ExactLeverage, as_float64, check_kernel, check_weights

#: what ``method="approximate"`` means
APPROXIMATE_DEFAULT = "subsample"
#: methods that give a reusable τ(·) for any weights
SCORER_METHODS = ("exact", "approximate", "subsample", "nystrom")
#: every method accepted by ``ridge_leverage``
METHODS = (*SCORER_METHODS, "pool_gram")


def check_method(method, allowed: tuple[str, ...] = METHODS) -> str:
    if not isinstance(method, str) or method not in allowed:
        raise ValueError(f"method must be one of {list(allowed)}, got {method!r}")
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
    method : {"exact", "approximate", "subsample", "nystrom", "pool_gram"}
        ``"exact"``: one Cholesky of K + λI, O(n³ + n²·m·d2) time, O(n²) memory.
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
