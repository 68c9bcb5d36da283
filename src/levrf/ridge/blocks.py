"""The sums over rows of random-feature ridge, each written once as a block function.

Every function here has the block-function signature of :mod:`levrf.rows`:
``fn(X, Y, start, *values)`` of one block's rows (torch tensors in the working dtype and device)
returning a dict of tensors that are summed over blocks. :class:`levrf.rows.TensorRows` calls
them on the whole data as one block; Dask rows map them over partitions. The feature map is
evaluated inside, chunk by chunk, so Ψ never exists in memory at once.

Row *groups* (the rows outside a CV split's training set, or a fold) are given either as a
contiguous global range ``(lo, hi)`` or as a sorted tensor of global row indices.
"""

from __future__ import annotations

import torch

from ._base import check_finite
from .solvers import NormalEquations


def rows_in(group, start: int, stop: int):
    """The rows of ``group`` inside ``[start, stop)``, as block-local indices (a slice or a
    tensor), or ``None`` when there are none."""
    if isinstance(group, tuple):
        a, b = max(group[0], start), min(group[1], stop)
        return slice(a - start, b - start) if a < b else None
    lo = int(torch.searchsorted(group, start))
    hi = int(torch.searchsorted(group, stop))
    return None if lo == hi else group[lo:hi] - start


def _take(T: torch.Tensor | None, where):
    if T is None:
        return None
    return T[where] if isinstance(where, slice) else T[where.to(T.device)]


def normal_equations_block(
    X: torch.Tensor,
    Y: torch.Tensor | None,
    start: int,
    features,
    groups: tuple = (),
    gram_dtype: torch.dtype | None = None,
    with_total: bool = True,
) -> dict:
    """``ΨᵀΨ`` as ``"gram"`` and ``ΨᵀY`` as ``"xty"`` of the block (``Y=None``: the Gram alone),
    with the column sums ``Σ ψ_i`` (``"psi_sum"``), ``Σ y_i`` (``"y_sum"``) and the number of rows
    (``"count"``) that centring (``fit_intercept``) needs.

    The Gram is returned with its **lower triangle** meaningful (what a Cholesky factorization or
    ``eigh`` reads; :func:`levrf.ridge.solvers.symmetric_from_lower` completes it). With
    ``groups``, the sums of each group's rows are returned too, as ``gram_<g>``/``xty_<g>``; with
    ``with_total=False`` only those (when the groups partition the rows, the total is their sum).
    """
    D, k = features.n_output_features_, 0 if Y is None else Y.shape[1]

    def accumulator(dtype=gram_dtype):
        return NormalEquations(D, k, dtype=X.dtype, device=X.device, gram_dtype=dtype)

    def sums():
        return torch.zeros(D, dtype=X.dtype, device=X.device), torch.zeros(k, dtype=X.dtype, device=X.device)

    total = (accumulator(), *sums()) if with_total else None
    parts = [(accumulator(), *sums()) for _ in groups]
    for s, Psi in features.iter_chunks(X, reuse=True):
        stop = s + Psi.shape[0]
        Yc = None if Y is None else Y[s:stop]
        if total is not None:
            add_rows(total, Psi, Yc)
        for part, group in zip(parts, groups, strict=True):
            where = rows_in(group, start + s, start + stop)
            if where is not None:
                add_rows(part, _take(Psi, where), _take(Yc, where))
    out = {}
    for suffix, (acc, psi_sum, y_sum) in (
        ([("", total)] if total is not None else []) + [(f"_{g}", p) for g, p in enumerate(parts)]
    ):
        out["gram" + suffix] = acc.gram_lower()
        out["psi_sum" + suffix] = psi_sum
        out["count" + suffix] = torch.tensor(acc.n_rows, dtype=torch.int64)
        if Y is not None:
            out["xty" + suffix] = acc.R
            out["y_sum" + suffix] = y_sum
    return out


def add_rows(part: tuple, Psi: torch.Tensor, Y: torch.Tensor | None) -> None:
    """Add rows to ``(NormalEquations, Σψ, Σy)``."""
    acc, psi_sum, y_sum = part
    acc.add(Psi, Y)
    psi_sum += Psi.sum(0)
    if Y is not None:
        y_sum += Y.sum(0)


def loo_block(X, Y, start, features, path, gcv_scale, keep_rows: bool = False) -> dict:
    """Sum over the block of squared leave-one-out (or GCV) residuals, for every α: ``"sq_err"``.

    ``path`` is the ridge eigen-path (``residuals(Psi, Y) -> (resid (b, k, A), hat (b, A))``);
    ``gcv_scale`` is ``1 − tr(H)/n`` (A,) for GCV, or ``None`` for exact leave-one-out. With
    ``keep_rows`` the per-row squared errors (b, k, A) are returned as ``"rows"`` (in-memory only:
    they are not a sum).
    """
    sums = torch.zeros(path.n_alphas, dtype=X.dtype, device=X.device)
    stored = torch.empty(X.shape[0], Y.shape[1], path.n_alphas, dtype=X.dtype, device=X.device) if keep_rows else None
    for s, Psi in features.iter_chunks(X, reuse=True):
        err = loo_errors(Psi, Y[s : s + Psi.shape[0]], path, gcv_scale)
        sums += err.sum((0, 1))
        if keep_rows:
            stored[s : s + Psi.shape[0]] = err
    return {"sq_err": sums} if not keep_rows else {"sq_err": sums, "rows": stored}


def loo_errors(Psi: torch.Tensor, Y: torch.Tensor, path, gcv_scale) -> torch.Tensor:
    """Squared leave-one-out (or GCV) residuals of some rows for every α: (b, k, A)."""
    resid, hat = path.residuals(Psi, Y)
    denom = gcv_scale[None, None, :] if gcv_scale is not None else (1.0 - hat)[:, None, :]
    return (resid / denom) ** 2


def held_out_error_block(X, Y, start, features, paths, tests) -> dict:
    """Sum of squared residuals of each split's test rows under that split's path: ``"sq_err"``
    (A,), and ``"count"``: the number of residuals summed."""
    sums = torch.zeros(paths[0].n_alphas, dtype=X.dtype, device=X.device)
    count = 0
    for path, group in zip(paths, tests, strict=True):
        where = rows_in(group, start, start + X.shape[0])
        if where is None:
            continue
        Xg, Yg = _take(X, where), _take(Y, where)
        for s, Psi in features.iter_chunks(Xg, reuse=True):
            resid, _ = path.residuals(Psi, Yg[s : s + Psi.shape[0]])
            sums += (resid**2).sum((0, 1))
        count += Yg.numel()
    return {"sq_err": sums, "count": torch.tensor(count, dtype=torch.int64)}


def linear_predictions(X: torch.Tensor, features, coef: torch.Tensor, intercept: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """``Ψ(X) β + b`` (b, k), computed chunk by chunk (a row-wise map); refuses non-finite values."""
    out = torch.empty(X.shape[0], coef.shape[1], dtype=X.dtype, device=X.device)
    for s, Psi in features.iter_chunks(X, reuse=True):
        out[s : s + Psi.shape[0]] = Psi @ coef
    if intercept is not None:
        out += intercept[None, :]
    return check_finite(out, "predictions")
