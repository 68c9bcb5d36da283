"""Approximate ridge leverage on a Dask array: the row subsample is gathered, the rest is local.

``method="approximate"`` (= ``"subsample"``, :class:`levrf.leverage.approximate.SubsampleLeverage`)
computes exact leverage on ``r`` uniformly drawn rows at the ridge ``α·r/n``. Its only contact
with the data is those r rows (default ``min(n, 2000)``), so on a Dask array the row indices are
drawn on the client from the same generator as in memory, only those rows are computed and
fetched (O(r·d) bytes, independent of n), and the r × r factorization runs on the client. The
result equals the in-memory scorer's for the same seed.

The methods that touch every row for every weight (``"exact"``: the n × n kernel matrix,
``"nystrom"``: an n × r matrix) are refused with a message.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import as_generator, check_positive, check_positive_int
from ..kernels import Kernel
from ..leverage.approximate import SubsampleLeverage, _landmarks, default_rank
from ..leverage.scores import ExactLeverage, as_float64, check_kernel
from ._lazy import require_dask


def gather_rows(X, rows: torch.Tensor) -> np.ndarray:
    """Rows ``rows`` (sorted indices) of a Dask array, computed by the current scheduler."""
    dask, _ = require_dask()
    (out,) = dask.compute(X[np.asarray(rows.cpu(), dtype=np.int64)])
    return np.asarray(out)


class GatheredSubsampleLeverage(SubsampleLeverage):
    """:class:`SubsampleLeverage` built from the ``rank`` gathered rows and the total ``n``.

    Parameters
    ----------
    kernel : levrf kernel
    rows_data : (r, d) the gathered rows
    n : int, number of rows of the whole data
    alpha : float > 0
    rows : torch.Tensor (r,), the indices of the gathered rows
    generator : torch.Generator
    batch_size : int, optional
    """

    def __init__(self, kernel: Kernel, rows_data, n: int, alpha: float, *, rows, generator, batch_size=None):
        check_kernel(kernel)
        self.alpha = check_positive(alpha, "alpha")
        self.n = int(n)
        self.rows = rows
        self.rank = int(rows.shape[0])
        self._rows_data = as_float64(kernel, rows_data)
        self._X = None
        self._generator = generator
        self.inner = ExactLeverage(kernel, self._rows_data, self.alpha * self.rank / self.n, batch_size=batch_size)

    def at_alpha(self, alpha: float) -> GatheredSubsampleLeverage:
        if alpha == self.alpha:
            return self
        other = GatheredSubsampleLeverage(
            self.inner.kernel, self._rows_data, self.n, alpha, rows=self.rows,
            generator=self._generator, batch_size=self.inner.batch_size,
        )
        other.inner._eigenvalues = self.inner._eigenvalues
        return other


def dask_leverage_function(
    kernel: Kernel,
    X,
    alpha: float,
    method: str = "approximate",
    *,
    rank: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
):
    """``levrf.leverage.leverage_function`` for a Dask array ``X`` (n, d).

    Draws the same rows from ``generator`` as the in-memory ``"subsample"`` scorer, gathers
    them, and returns the same scorer. Raises ``ValueError`` for methods that need all rows.
    """
    from ..leverage.methods import APPROXIMATE_DEFAULT

    if (APPROXIMATE_DEFAULT if method == "approximate" else method) != "subsample":
        raise ValueError(
            f"leverage method {method!r} needs the whole data in memory; with a Dask array X use "
            "leverage_method='approximate' (exact leverage on a uniform row subsample)"
        )
    check_kernel(kernel)
    alpha = check_positive(alpha, "alpha")
    n = int(X.shape[0])
    r = default_rank(n) if rank is None else min(check_positive_int(rank, "rank"), n)
    gen = as_generator(generator)
    rows = _landmarks(n, r, gen)
    return GatheredSubsampleLeverage(
        kernel, gather_rows(X, rows), n, alpha, rows=rows, generator=gen, batch_size=batch_size
    )
