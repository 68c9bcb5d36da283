"""Lazy access to Dask: ``import levrf`` never imports it, and says how to install it when needed."""

from __future__ import annotations

import sys

INSTALL_HINT = "install the optional dependencies with `pip install levrf[dask]`"


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
        raise ImportError(f"levrf's distributed fitting needs Dask: {INSTALL_HINT}") from exc
    return dask, da
