"""Map-reduce over the row blocks of a Dask array.

Every row block becomes one task that turns its rows into partial sums (a dict of NumPy arrays);
the partial sums are added in a tree (``split_every`` at a time), so the client receives only
the final sums, never the data. Each partial sum carries the indices of the row blocks it
covers and its row count: the final result is checked to cover every block exactly once and
``n`` rows, so a lost or duplicated partial sum raises instead of giving a silently wrong fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._lazy import is_dask_collection, require_dask
from .shipping import Shipped

#: default fan-in of the reduction tree
SPLIT_EVERY = 8
_ROWS, _BLOCKS = "__rows__", "__blocks__"


class IncompleteReductionError(RuntimeError):
    """A distributed reduction did not cover every row exactly once."""


@dataclass
class RowBlocks:
    """A Dask array ``X`` (n, d) with one column chunk, and targets ``Y`` (n, k) aligned to it.

    Attributes
    ----------
    X : dask.array.Array (n, d)
    Y : dask.array.Array (n, k) or None
    starts : tuple of int
        First row of each row block.
    single_target : bool
        Whether the targets were given as a 1-D array.
    feature_names : numpy.ndarray of str or None
        Column names when ``X`` was a Dask DataFrame with string column names.
    """

    X: object
    Y: object | None
    starts: tuple[int, ...]
    single_target: bool = False
    feature_names: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_blocks(self) -> int:
        return len(self.starts)


def _dataframe_to_array(X, name: str):
    """A Dask DataFrame/Series as a Dask array with known chunk sizes (one pass to count rows)."""
    names = None
    if hasattr(X, "columns"):
        cols = list(X.columns)
        if cols and all(isinstance(c, str) for c in cols):
            names = np.asarray(cols, dtype=object)
    if hasattr(X, "to_dask_array"):
        return X.to_dask_array(lengths=True), names
    raise TypeError(f"{name} must be a Dask array or DataFrame, got {type(X).__name__}")


def _check_array(A, name: str, ndims: tuple[int, ...]):
    _, da = require_dask()
    if not isinstance(A, da.Array):
        raise TypeError(f"{name} must be a Dask array or DataFrame, got {type(A).__name__}")
    if A.ndim not in ndims:
        want = " or ".join(f"{k}-D" for k in ndims)
        hint = " (reshape a single feature with X.reshape(-1, 1))" if name == "X" and A.ndim == 1 else ""
        raise ValueError(f"{name} must be {want}, got shape {A.shape}{hint}")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    if any(np.isnan(c) for c in A.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() (or build it with "
            "to_dask_array(lengths=True)) so that every row can be counted"
        )
    return A


def as_row_blocks(X, y=None, *, dtype=np.float64) -> RowBlocks:
    """Validate a Dask ``X`` (and targets ``y``) and align them into row blocks.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame of shape (n, d)
    y : None, array-like or Dask array/Series of shape (n,) or (n, k)
        In-memory targets are split into ``X``'s row blocks.
    dtype : numpy dtype
        Floating type the blocks are cast to.

    Returns
    -------
    RowBlocks
    """
    _, da = require_dask()
    names = None
    if not isinstance(X, da.Array):
        if not is_dask_collection(X):
            raise TypeError(f"X must be a Dask array or DataFrame, got {type(X).__name__}")
        X, names = _dataframe_to_array(X, "X")
    X = _check_array(X, "X", (2,))
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    X = X.astype(dtype).rechunk({1: -1})
    row_chunks = X.chunks[0]
    starts = tuple(int(s) for s in np.concatenate([[0], np.cumsum(row_chunks)[:-1]]))
    if y is None:
        return RowBlocks(X, None, starts, feature_names=names)
    if is_dask_collection(y) and not isinstance(y, da.Array):
        y, _ = _dataframe_to_array(y, "y")
    if isinstance(y, da.Array):
        Y = _check_array(y, "y", (1, 2))
    else:
        A = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if A.dtype.kind not in "biuf":
            raise TypeError(f"y must hold real numbers, got dtype {A.dtype}")
        if A.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {A.shape}")
        if A.shape[0] != X.shape[0]:
            raise ValueError(f"y has {A.shape[0]} rows but X has {X.shape[0]}; they must match")
        Y = da.from_array(A, chunks=(row_chunks,) + A.shape[1:])
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {Y.shape[0]} rows but X has {X.shape[0]}; they must match")
    single = Y.ndim == 1
    Y = Y.astype(np.float64)
    Y = (Y[:, None] if single else Y).rechunk({0: row_chunks, 1: -1})
    if Y.shape[1] == 0:
        raise ValueError("y must have at least one column")
    return RowBlocks(X, Y, starts, single_target=single, feature_names=names)


def _run_block(block_fn, x, y, start, index, *shipped):
    """One task: the partial sums of one row block, tagged with its block index and row count."""
    values = [s.value if isinstance(s, Shipped) else s for s in shipped]
    out = dict(block_fn(x, y, start, *values))
    out[_ROWS] = int(x.shape[0])
    out[_BLOCKS] = (int(index),)
    return out


def _add_parts(*parts: dict) -> dict:
    """Sum partial results key by key (a key missing from a part counts as zero)."""
    total: dict = {}
    for part in parts:
        for key, value in part.items():
            if key == _BLOCKS:
                continue
            total[key] = value if key not in total else total[key] + value
    blocks = tuple(sorted(b for part in parts for b in part[_BLOCKS]))
    if len(set(blocks)) != len(blocks):
        raise IncompleteReductionError(f"a row block was reduced twice: blocks {blocks}")
    total[_BLOCKS] = blocks
    return total


def tree_sum(parts: list, split_every: int = SPLIT_EVERY):
    """Add ``dask.delayed`` partial results in a tree of fan-in ``split_every``."""
    dask, _ = require_dask()
    if split_every < 2:
        raise ValueError(f"split_every must be >= 2, got {split_every}")
    add = dask.delayed(_add_parts, pure=True)  # keys derive from the parts' keys: deterministic
    while len(parts) > 1:
        parts = [add(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    return parts[0]


def reduce_row_blocks(
    block_fn: Callable[..., dict],
    blocks: RowBlocks,
    *shipped: Shipped,
    split_every: int = SPLIT_EVERY,
) -> dict:
    """Apply ``block_fn(x, y, start, *values)`` to every row block and sum the results.

    Parameters
    ----------
    block_fn : callable
        Module-level function (picklable by reference) of a NumPy block ``x`` (b, d), its
        targets ``y`` (b, k) or ``None``, the block's first row ``start`` and the values of the
        ``shipped`` objects; returns a dict of NumPy arrays (or numbers) to be summed.
    blocks : RowBlocks
    *shipped : Shipped
        Objects every task needs (feature map, coefficients): one graph key each, sent to each
        worker once.
    split_every : int
        Fan-in of the reduction tree.

    Returns
    -------
    dict
        The sums over all row blocks, computed by the current Dask scheduler (a
        ``distributed.Client`` if one is active, else the local threaded scheduler), and
        ``"n_rows"``: the number of rows summed (checked to be n).

    Raises
    ------
    IncompleteReductionError
        If the sums do not cover every row block exactly once and ``n`` rows in total.
    """
    dask, _ = require_dask()
    x_blocks = blocks.X.to_delayed().ravel()
    y_blocks = [None] * len(x_blocks) if blocks.Y is None else blocks.Y.to_delayed().ravel()
    refs = [s.delayed() for s in shipped]
    run = dask.delayed(_run_block, pure=True)
    parts = [
        run(block_fn, xb, yb, start, i, *refs)
        for i, (xb, yb, start) in enumerate(zip(x_blocks, y_blocks, blocks.starts, strict=True))
    ]
    (total,) = dask.compute(tree_sum(parts, split_every))
    check_complete(total, blocks)
    total.pop(_BLOCKS)
    total["n_rows"] = int(total.pop(_ROWS))
    return total


def check_complete(total: dict, blocks: RowBlocks) -> None:
    """Raise unless ``total`` covers every row block once and exactly ``n`` rows."""
    covered = total.get(_BLOCKS, ())
    if tuple(covered) != tuple(range(blocks.n_blocks)):
        missing = sorted(set(range(blocks.n_blocks)) - set(covered))
        raise IncompleteReductionError(
            f"the reduction covered {len(covered)} of {blocks.n_blocks} row blocks (missing {missing[:10]}); "
            "refusing to return a result computed from a partial sum"
        )
    if int(total.get(_ROWS, -1)) != blocks.n_rows:
        raise IncompleteReductionError(
            f"the reduction counted {total.get(_ROWS)} rows but X has {blocks.n_rows}; "
            "refusing to return a result computed from a partial sum"
        )
