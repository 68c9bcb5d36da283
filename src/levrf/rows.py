"""The training data as *rows*: one interface whether they are in memory or a Dask collection.

Every algorithm in levrf touches the data through a few operations: its number of rows and
columns, a subset of rows gathered by index, and sums over rows (``ΨᵀΨ``, ``ΨᵀY``, CV errors),
or row-wise maps (features, predictions). Each sum is written once as a *block function*

    block_fn(X, Y, start, *values) -> dict of torch tensors (summed over blocks)

of a block's rows ``X`` (b, d) and targets ``Y`` (b, k) or ``None`` (torch tensors in the
working dtype and device), ``start`` the block's first row in the whole data, and any
``values`` the function needs (a fitted feature map, an eigen-path). :class:`TensorRows` runs it
on the whole tensor as one block; the Dask implementation (``levrf.distributed``) maps it over
the partitions and adds the partial sums in a tree. This module is the only place in the core
that knows Dask exists.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch

#: how to install the optional Dask dependencies
DASK_INSTALL_HINT = "install the optional dependencies with `pip install levrf[dask]`"


def is_dask_collection(obj) -> bool:
    """Whether ``obj`` is a Dask collection (array, dataframe, delayed), without importing Dask.

    An object can only be a Dask collection if Dask has already been imported by someone, so
    when it has not, the answer is ``False`` at no cost.
    """
    if "dask" not in sys.modules:
        return False
    from dask import is_dask_collection as _is

    return bool(_is(obj))


def require_dask():
    """Import and return ``(dask, dask.array)``; raise ``ImportError`` with the install hint."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"levrf's distributed fitting needs Dask: {DASK_INSTALL_HINT}") from exc
    return dask, da


class Rows(ABC):
    """Rows of a data set and their aligned targets, wherever they live.

    Attributes
    ----------
    n_rows, n_columns : int
    n_targets : int
        Columns of the targets (0 when there are none).
    single_target : bool
        Whether the targets were given as a 1-D array.
    feature_names : numpy.ndarray of str or None
        Column names, when the input had string column names.
    in_memory : bool
        Whether the rows are one torch tensor (algorithms that need all rows at once, e.g. the
        n × n kernel matrix, refuse the others).
    dtype, device : torch dtype and device of the tensors the block functions receive.
    """

    n_rows: int
    n_columns: int
    n_targets: int
    single_target: bool = False
    feature_names: np.ndarray | None = None
    in_memory: bool = False
    dtype: torch.dtype
    device: torch.device

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_columns)

    @abstractmethod
    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (a sorted 1-D index tensor) as one (len(index), d) tensor."""

    @abstractmethod
    def sum(self, block_fn: Callable[..., dict], *values) -> dict[str, torch.Tensor]:
        """``Σ_blocks block_fn(X_b, Y_b, start_b, *values)``, key by key, as tensors.

        The result also holds ``"n_rows"``: the number of rows summed (checked to be n).
        """

    @abstractmethod
    def map(self, block_fn: Callable[..., torch.Tensor], *values, n_columns: int | None,
            with_targets: bool = False, trailing: tuple[int, ...] = ()):
        """``block_fn(X_b, *values)`` for every block, stacked along the rows.

        Returns a NumPy array in memory, a lazy Dask array for Dask rows. ``n_columns=None``
        means the function returns one value per row (a 1-D result); ``trailing`` are further
        output dimensions after ``n_columns``; ``with_targets=True`` calls
        ``block_fn(X_b, Y_b, *values)``.
        """


class TensorRows(Rows):
    """Rows held as one torch tensor ``X`` (n, d) with targets ``Y`` (n, k) or ``None``."""

    in_memory = True

    def __init__(self, X: torch.Tensor, Y: torch.Tensor | None = None, *, single_target: bool = False,
                 feature_names: np.ndarray | None = None) -> None:
        self.X, self.Y = X, Y
        self.n_rows, self.n_columns = int(X.shape[0]), int(X.shape[1])
        self.n_targets = 0 if Y is None else int(Y.shape[1])
        self.single_target = single_target
        self.feature_names = feature_names
        self.dtype, self.device = X.dtype, X.device

    def take(self, index: torch.Tensor) -> torch.Tensor:
        return self.X[index.to(self.X.device)]

    def sum(self, block_fn, *values) -> dict[str, torch.Tensor]:
        out = dict(block_fn(self.X, self.Y, 0, *values))
        out["n_rows"] = self.n_rows
        return out

    def map(self, block_fn, *values, n_columns: int | None, with_targets: bool = False, trailing: tuple = ()):
        out = block_fn(self.X, self.Y, *values) if with_targets else block_fn(self.X, *values)
        return out.cpu().numpy()


def as_rows(X, y=None, *, dtype: torch.dtype, device: torch.device) -> Rows:
    """``X`` (and ``y``) as :class:`Rows`: a torch tensor or Dask collection, validated.

    In-memory inputs are expected to be validated already (``sklearn``'s ``validate_data``)
    and given as tensors; Dask arrays and DataFrames are checked block-wise by
    :func:`levrf.distributed.as_dask_rows`.
    """
    if isinstance(X, Rows):
        return X
    if is_dask_collection(X) or is_dask_collection(y):
        from .distributed.rows import as_dask_rows

        return as_dask_rows(X, y, dtype=dtype, device=device)
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch tensor or a Dask collection here, got {type(X).__name__}")
    Y = None
    if y is not None:
        Y = torch.as_tensor(y, dtype=dtype, device=device)
        Y = Y[:, None] if Y.ndim == 1 else Y
    return TensorRows(X.to(dtype=dtype, device=device), Y, single_target=y is not None and np.ndim(y) == 1)
