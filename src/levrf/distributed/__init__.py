"""Dask-distributed and out-of-core fitting: the row sums of random-feature ridge as map-reduce.

``RandomFeatureRidge.fit``, ``RandomFeatureRidgeCV.fit`` and ``RandomFeatures.fit`` accept Dask
arrays and call this package: each row block becomes ``ΨᵀΨ``, ``ΨᵀY`` (and CV sums) on a
worker, the partial sums are added in a tree, and the client solves the D × D system. Dask is
imported only when a Dask array is met (``pip install levrf[dask]``). See ``docs/distributed.md``.
"""

from ._lazy import is_dask_collection
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
from .shipping import Shipped, unpickle_count

__all__ = [
    "DistributedFitError",
    "FaultPolicy",
    "IncompleteReductionError",
    "RowBlocks",
    "Shipped",
    "as_row_blocks",
    "fault_policy",
    "fit_random_features",
    "fit_ridge",
    "from_csv",
    "from_parquet",
    "from_zarr",
    "is_dask_collection",
    "normal_equations",
    "predict",
    "read_table",
    "reduce_row_blocks",
    "transform",
    "unpickle_count",
]

_ESTIMATOR_NAMES = ("fit_random_features", "fit_ridge", "normal_equations", "predict", "transform")


def __getattr__(name: str):
    # the estimator glue imports the ridge package, which imports levrf.features: load it on demand
    if name in _ESTIMATOR_NAMES:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
