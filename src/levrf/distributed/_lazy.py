"""Lazy access to Dask, re-exported from :mod:`levrf.rows` (the one module that imports it)."""

from ..rows import DASK_INSTALL_HINT as INSTALL_HINT
from ..rows import is_dask_collection, require_dask

__all__ = ["INSTALL_HINT", "is_dask_collection", "require_dask"]
