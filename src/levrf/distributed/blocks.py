"""What one task computes on one row block (NumPy in, NumPy out; torch inside).

Each function has the signature ``fn(x, y, start, *values)`` used by
:func:`levrf.distributed.reduce.reduce_row_blocks`: ``x`` the block's rows, ``y`` its targets
(or ``None``), ``start`` its first row in the whole array, then the shipped values.
"""

from __future__ import annotations

import numpy as np
import torch

from ..ridge.solvers import NormalEquations


def block_tensor(a: np.ndarray, features, name: str, start: int) -> torch.Tensor:
    """A NumPy block as a finite torch tensor in the feature map's dtype and device."""
    if not np.all(np.isfinite(a)):
        where = f" (in the row block starting at row {start})" if start >= 0 else ""
        raise ValueError(f"{name} contains NaN or infinite values{where}")
    T = torch.from_numpy(np.ascontiguousarray(a))
    return T.to(device=features.weights_.device, dtype=features.weights_.dtype)


def _numpy(T: torch.Tensor) -> np.ndarray:
    return T.detach().cpu().numpy()


def fold_rows(start: int, stop: int, folds: tuple[tuple[int, int], ...]) -> list[tuple[int, int, int]]:
    """``(fold, a, b)`` for each fold ``[lo, hi)`` that meets rows ``[start, stop)``, in block-local rows."""
    out = []
    for f, (lo, hi) in enumerate(folds):
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            out.append((f, a - start, b - start))
    return out


def normal_equations_block(x, y, start, features, folds=()) -> dict:
    """``ΨᵀΨ``, ``ΨᵀY`` of the block (``y=None``: the Gram alone).

    With ``folds`` (contiguous global row ranges), the sums of each fold's rows are returned
    as ``gram_<f>``/``xty_<f>`` instead of the block total (the total is their sum).
    """
    X = block_tensor(x, features, "X", start)
    Y = None if y is None else block_tensor(y, features, "y", start)
    D, k = features.n_output_features_, 0 if Y is None else Y.shape[1]
    pieces = fold_rows(start, start + X.shape[0], folds) if folds else [(None, 0, X.shape[0])]
    out = {}
    for f, a, b in pieces:
        acc = NormalEquations(D, k, dtype=X.dtype, device=X.device)
        for s, Psi in features.iter_chunks(X[a:b], reuse=True):
            acc.add(Psi, None if Y is None else Y[a + s : a + s + Psi.shape[0]])
        suffix = "" if f is None else f"_{f}"
        out["gram" + suffix] = _numpy(acc.gram())
        if Y is not None:
            out["xty" + suffix] = _numpy(acc.R)
    return out


def loo_block(x, y, start, features, path, gcv_scale) -> dict:
    """Sum over the block of squared leave-one-out (or GCV) residuals, for every α.

    ``path`` is the ridge eigen-path (``residuals(Psi, Y) -> (resid (b, k, A), hat (b, A))``);
    ``gcv_scale`` is ``1 − tr(H)/n`` (A,) for GCV, or ``None`` for exact leave-one-out.
    """
    X = block_tensor(x, features, "X", start)
    Y = block_tensor(y, features, "y", start)
    sums = torch.zeros(path.n_alphas, dtype=X.dtype, device=X.device)
    for s, Psi in features.iter_chunks(X, reuse=True):
        resid, hat = path.residuals(Psi, Y[s : s + Psi.shape[0]])
        denom = gcv_scale[None, None, :] if gcv_scale is not None else (1.0 - hat)[:, None, :]
        sums += ((resid / denom) ** 2).sum((0, 1))
    return {"sq_err": _numpy(sums)}


def fold_error_block(x, y, start, features, paths, folds) -> dict:
    """Sum of squared held-out residuals of the block's rows, each under its fold's path."""
    X = block_tensor(x, features, "X", start)
    Y = block_tensor(y, features, "y", start)
    sums = torch.zeros(paths[0].n_alphas, dtype=X.dtype, device=X.device)
    for f, a, b in fold_rows(start, start + X.shape[0], folds):
        for s, Psi in features.iter_chunks(X[a:b], reuse=True):
            resid, _ = paths[f].residuals(Psi, Y[a + s : a + s + Psi.shape[0]])
            sums += (resid**2).sum((0, 1))
    return {"sq_err": _numpy(sums)}


def transform_block(x, features) -> np.ndarray:
    """Ψ of the block's rows (b, D) as NumPy (for ``map_blocks``)."""
    X = block_tensor(x, features, "X", -1)
    out = np.empty((X.shape[0], features.n_output_features_), dtype=x.dtype)
    for s, Psi in features.iter_chunks(X, reuse=True):
        out[s : s + Psi.shape[0]] = _numpy(Psi)
    return out


def predict_block(x, features, coef, single_target) -> np.ndarray:
    """``Ψ(x) β`` of the block's rows (for ``map_blocks``): (b,) or (b, k)."""
    X = block_tensor(x, features, "X", -1)
    out = torch.empty(X.shape[0], coef.shape[1], dtype=X.dtype, device=X.device)
    for s, Psi in features.iter_chunks(X, reuse=True):
        out[s : s + Psi.shape[0]] = Psi @ coef
    if not bool(torch.isfinite(out).all()):
        raise ValueError("predictions are not finite: the inputs are too large for this kernel and dtype")
    pred = _numpy(out)
    return pred[:, 0] if single_target else pred
