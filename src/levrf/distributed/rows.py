"""Dask collections as :class:`levrf.rows.Rows`: block functions mapped over the partitions.

A block function of the core (NumPy-free, torch in and out) is shipped to the workers once,
together with the values it needs; each row block becomes one task that converts its NumPy
rows to torch tensors in the working dtype and device, runs the function and returns NumPy
partial sums, which :func:`levrf.distributed.reduce.reduce_row_blocks` adds in a tree and
checks for completeness. Row subsets (``take``) are computed by the current scheduler and
fetched: O(rows · d) bytes, independent of n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..features import RandomFeatures, slim_copy
from ..ridge.blocks import normal_equations_block
from ..ridge.solvers import symmetric_from_lower
from ..rows import Rows, require_dask
from .reduce import RowBlocks, as_row_blocks, reduce_row_blocks
from .shipping import Shipped


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return np.dtype(str(dtype).removeprefix("torch."))


def _tensor(a: np.ndarray, dtype: torch.dtype, device: torch.device, name: str, start: int) -> torch.Tensor:
    if not np.all(np.isfinite(a)):
        where = f" (in the row block starting at row {start})" if start >= 0 else ""
        raise ValueError(f"{name} contains NaN or infinite values{where}")
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)


def _sum_task(x, y, start, job):
    block_fn, values, dtype, device = job  # reduce_row_blocks passes shipped values unwrapped
    X = _tensor(x, dtype, device, "X", start)
    Y = None if y is None else _tensor(y, dtype, device, "y", start)
    return {k: v.detach().cpu().numpy() for k, v in block_fn(X, Y, start, *values).items()}


def _map_task(x, job):
    block_fn, values, dtype, device = job.value
    return block_fn(_tensor(x, dtype, device, "X", -1), *values).detach().cpu().numpy()


def _map_with_targets_task(xy, n_columns, job):
    block_fn, values, dtype, device = job.value
    X = _tensor(xy[:, :n_columns], dtype, device, "X", -1)
    Y = _tensor(xy[:, n_columns:], dtype, device, "y", -1)
    return block_fn(X, Y, *values).detach().cpu().numpy()


class DaskRows(Rows):
    """:class:`levrf.rows.Rows` of a Dask array or DataFrame, row blocks = its chunks."""

    in_memory = False

    def __init__(self, blocks: RowBlocks, dtype: torch.dtype, device: torch.device) -> None:
        self.blocks = blocks
        self.n_rows, self.n_columns = blocks.n_rows, blocks.n_columns
        self.n_targets = 0 if blocks.Y is None else int(blocks.Y.shape[1])
        self.single_target = blocks.single_target
        self.feature_names = blocks.feature_names
        self.dtype, self.device = dtype, torch.device(device)

    def _job(self, block_fn, values, label: str) -> Shipped:
        return Shipped((block_fn, values, self.dtype, self.device), label)

    def take(self, index: torch.Tensor) -> torch.Tensor:
        dask, _ = require_dask()
        (out,) = dask.compute(self.blocks.X[np.asarray(index.cpu(), dtype=np.int64)])
        return _tensor(np.asarray(out), self.dtype, self.device, "X", -1)

    def sum(self, block_fn, *values) -> dict[str, torch.Tensor]:
        sums = reduce_row_blocks(_sum_task, self.blocks, self._job(block_fn, values, "levrf-features"))
        n_rows = sums.pop("n_rows")
        out = {k: torch.from_numpy(np.asarray(v)).to(device=self.device) for k, v in sums.items()}
        out["n_rows"] = n_rows
        return out

    def map(self, block_fn, *values, n_columns: int | None, with_targets: bool = False, trailing: tuple = ()):
        """A lazy Dask array with ``X``'s row blocks; see :meth:`levrf.rows.Rows.map`.

        ``with_targets=True`` calls ``block_fn(X_b, Y_b, *values)``; ``trailing`` are extra
        output dimensions after ``n_columns`` (e.g. one per α).
        """
        _, da = require_dask()
        X = self.blocks.X
        ref = self._job(block_fn, values, "levrf-features").delayed()
        dims = () if n_columns is None else (n_columns, *trailing)
        chunks = (X.chunks[0], *((c,) for c in dims))
        meta = np.empty((0,) * len(chunks), dtype=X.dtype)
        if not with_targets:
            if n_columns is None:
                return X.map_blocks(_map_task, ref, drop_axis=1, dtype=X.dtype, meta=meta)
            return X.map_blocks(_map_task, ref, chunks=chunks, dtype=X.dtype, meta=meta,
                                new_axis=list(range(2, len(chunks))) or None)
        # X and Y side by side in one array, so that each task gets its rows of both
        XY = da.concatenate([X, self.blocks.Y.astype(X.dtype)], axis=1).rechunk({1: -1})
        if n_columns is None:
            return XY.map_blocks(_map_with_targets_task, self.n_columns, ref, drop_axis=1, dtype=X.dtype, meta=meta)
        return XY.map_blocks(_map_with_targets_task, self.n_columns, ref, chunks=chunks, dtype=X.dtype, meta=meta,
                             new_axis=list(range(2, len(chunks))) or None)


def as_dask_rows(X, y=None, *, dtype: torch.dtype, device: torch.device) -> DaskRows:
    """Validate a Dask ``X`` (and in-memory or Dask ``y``) as :class:`DaskRows`."""
    return DaskRows(as_row_blocks(X, y, dtype=_numpy_dtype(dtype)), dtype, device)


@dataclass
class NormalEquationSums:
    """``ΨᵀΨ`` (D, D), ``ΨᵀY`` (D, k) or ``None``, and the number of rows that were summed."""

    gram: torch.Tensor
    xty: torch.Tensor | None
    n_rows: int


def normal_equations(features: RandomFeatures, X, y=None) -> NormalEquationSums:
    """``ΨᵀΨ`` and ``ΨᵀY`` of a Dask array, summed over its row blocks by Dask tasks.

    Parameters
    ----------
    features : fitted levrf.RandomFeatures
    X : Dask array or DataFrame (n, d)
    y : None, array-like or Dask array (n,) or (n, k)

    Returns
    -------
    NormalEquationSums
        ``n_rows`` is the count of rows that entered the sums; it has been checked to equal n.
    """
    check_is_fitted(features, "weights_")
    rows = as_dask_rows(X, y, dtype=features.weights_.dtype, device=features.weights_.device)
    if rows.n_columns != features.n_features_in_:
        raise ValueError(f"X has {rows.n_columns} features, but the feature map expects {features.n_features_in_}")
    sums = rows.sum(normal_equations_block, slim_copy(features))
    gram = symmetric_from_lower(sums["gram"].to(features.weights_.dtype))
    return NormalEquationSums(gram, sums.get("xty"), int(sums["n_rows"]))
