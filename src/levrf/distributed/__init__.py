"""Dask-distributed and out-of-core fitting: readers, the map-reduce, and shipping to workers.

The estimators (``RandomFeatures``, ``RandomFeatureRidge``, ``RandomFeatureRidgeCV``, the
classifiers) accept Dask arrays and DataFrames directly: :func:`levrf.rows.as_rows` wraps them as
:class:`DaskRows`, and every sum over rows the estimators need (``ΨᵀΨ``, ``ΨᵀY``, CV errors) is
the core's own block function mapped over the row blocks and added in a tree
(:func:`reduce_row_blocks`); the D × D solves run on the client. This package depends on the
core's public API only. Dask is imported only when a Dask collection is met
(``pip install levrf[dask]``). See ``docs/distributed.md``.
"""

from ..rows import is_dask_collection
from .io import from_csv, from_parquet, from_zarr, read_table
from .reduce import (
    DistributedFitError,
    FaultPolicy,
    IncompleteReductionError,
    RowBlocks,
    as_row_blocks,
    fault_policy,
    reduce_row_blocks,
)
from .rows import DaskRows, NormalEquationSums, as_dask_rows, normal_equations
from .shipping import Shipped, unpickle_count

__all__ = [
    "DaskRows",
    "DistributedFitError",
    "FaultPolicy",
    "IncompleteReductionError",
    "NormalEquationSums",
    "RowBlocks",
    "Shipped",
    "as_dask_rows",
    "as_row_blocks",
    "fault_policy",
    "from_csv",
    "from_parquet",
    "from_zarr",
    "is_dask_collection",
    "normal_equations",
    "read_table",
    "reduce_row_blocks",
    "unpickle_count",
]
