"""Read tables from disk as Dask arrays ``X`` (n, d) and ``y`` (n,), without loading them.

* Parquet (:func:`from_parquet`): one task per group of Parquet row groups, read with PyArrow;
  row counts come from the file footers, so the chunk sizes are known without a pass over the
  data.
* CSV (:func:`from_csv`): ``dask.dataframe.read_csv``; counting the rows of each partition
  takes one pass (CSV has no footer).
* Zarr (:func:`from_zarr`): ``dask.array.from_zarr`` of a 2-D array ``X`` and a 1-D array ``y``.

:func:`read_table` picks the reader from the path.
"""

from __future__ import annotations

import glob
import os

import numpy as np

from .._validation import check_positive_int
from ..rows import DASK_INSTALL_HINT as INSTALL_HINT
from ..rows import require_dask


def _check_path(path) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _check_columns(columns, name: str = "columns") -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        raise TypeError(f"{name} must be a list of column names, got the string {columns!r}")
    cols = list(columns)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise ValueError(f"{name} must be a non-empty list of column names, got {columns!r}")
    return cols


def _split(Z, d: int, target):
    """Feature columns and target column of one array read with the target last."""
    return (Z[:, :d], Z[:, d]) if target is not None else (Z, None)


def _parquet_files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
    else:
        files = sorted(glob.glob(path)) if any(ch in path for ch in "*?[") else [path]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise ValueError(f"path {path!r} holds no Parquet files")
    return files


def _read_parquet_block(file: str, row_groups: list[int], columns: list[str]) -> np.ndarray:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(file).read_row_groups(row_groups, columns=columns)
    out = np.empty((table.num_rows, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        out[:, j] = table.column(name).to_numpy()
    return out


def _numeric_columns(schema, exclude) -> list[str]:
    import pyarrow.types as pat

    return [
        f.name for f in schema
        if f.name not in exclude and (pat.is_integer(f.type) or pat.is_floating(f.type) or pat.is_boolean(f.type))
    ]


def from_parquet(path, columns=None, target=None, chunk_rows: int | None = None):
    """Parquet file(s) as Dask arrays ``X`` (float64) and ``y`` (or ``None`` without ``target``).

    Parameters
    ----------
    path : str or os.PathLike
        A Parquet file, a directory of ``*.parquet`` files (read in sorted order), or a glob.
    columns : list of str, optional
        Feature columns, in this order; default every numeric column except ``target``.
    target : str, optional
        Target column.
    chunk_rows : int, optional
        Rows per block, approximately: consecutive row groups of a file are merged up to this
        many rows (a row group is never split). Default: one block per row group.

    Returns
    -------
    X : dask.array.Array (n, d)
    y : dask.array.Array (n,) or None
    """
    dask, da = require_dask()
    import pyarrow.parquet as pq

    path = _check_path(path)
    columns = _check_columns(columns)
    if target is not None and not isinstance(target, str):
        raise TypeError(f"target must be a column name (str) or None, got {type(target).__name__}")
    if chunk_rows is not None:
        chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
    files = _parquet_files(path)
    schema = pq.ParquetFile(files[0]).schema_arrow
    if columns is None:
        columns = _numeric_columns(schema, {target})
    wanted = columns + ([target] if target is not None else [])
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise ValueError(f"columns {missing} are not in {files[0]!r} (it has {schema.names})")
    if not columns:
        raise ValueError(f"{files[0]!r} has no numeric feature columns")
    read = dask.delayed(_read_parquet_block, pure=True)
    pieces = []
    for file in files:
        meta = pq.ParquetFile(file).metadata
        groups, rows = [], 0
        for g in range(meta.num_row_groups):
            size = meta.row_group(g).num_rows
            if groups and (chunk_rows is None or rows + size > chunk_rows):
                pieces.append(da.from_delayed(read(file, groups, wanted), (rows, len(wanted)), dtype=np.float64))
                groups, rows = [], 0
            groups.append(g)
            rows += size
        if groups:
            pieces.append(da.from_delayed(read(file, groups, wanted), (rows, len(wanted)), dtype=np.float64))
    Z = da.concatenate(pieces, axis=0)
    return _split(Z, len(columns), target)


def from_csv(path, columns=None, target=None, chunk_rows: int | None = None, **read_csv_kwargs):
    """CSV file(s) through ``dask.dataframe.read_csv`` as Dask arrays ``X`` and ``y``.

    Parameters
    ----------
    path : str or os.PathLike
        A file or a glob such as ``"data/*.csv"``.
    columns : list of str, optional
        Feature columns; default every numeric column except ``target``.
    target : str, optional
    chunk_rows : int, optional
        Rows per block after reading (default: Dask's partitions of the files).
    **read_csv_kwargs
        Passed to ``dask.dataframe.read_csv`` (e.g. ``blocksize``).

    Returns
    -------
    X : dask.array.Array (n, d), y : dask.array.Array (n,) or None
    """
    require_dask()
    import dask.dataframe as dd

    path = _check_path(path)
    columns = _check_columns(columns)
    if target is not None and not isinstance(target, str):
        raise TypeError(f"target must be a column name (str) or None, got {type(target).__name__}")
    if chunk_rows is not None:
        chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
    # round-trip parsing: every pandas version reads back exactly the floats that were written
    df = dd.read_csv(path, **{"float_precision": "round_trip", **read_csv_kwargs})
    if columns is None:
        from pandas.api.types import is_numeric_dtype

        columns = [c for c in df.columns if c != target and is_numeric_dtype(df.dtypes[c])]
    wanted = columns + ([target] if target is not None else [])
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in {path!r} (it has {list(df.columns)})")
    Z = df[wanted].astype(np.float64).to_dask_array(lengths=True)
    if chunk_rows is not None:
        Z = Z.rechunk({0: chunk_rows})
    return _split(Z, len(columns), target)


def from_zarr(path, x: str = "X", y: str | None = "y", chunk_rows: int | None = None):
    """Arrays of a Zarr group as Dask arrays ``X`` (n, d) and ``y`` (n,) (``y=None``: no target).

    Parameters
    ----------
    path : str or os.PathLike
        The Zarr store (a directory).
    x, y : str
        Names of the feature array (2-D) and target array (1-D or 2-D) in the group.
    chunk_rows : int, optional
        Rows per block (default: the Zarr chunking).
    """
    _, da = require_dask()
    try:
        import zarr  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"from_zarr needs the zarr package: `pip install zarr` ({INSTALL_HINT})") from exc
    path = _check_path(path)
    if not isinstance(x, str) or (y is not None and not isinstance(y, str)):
        raise TypeError("x and y must be names (str) of arrays in the Zarr group")
    if chunk_rows is not None:
        chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
    X = da.from_zarr(path, component=x)
    Y = None if y is None else da.from_zarr(path, component=y)
    if chunk_rows is not None:
        X = X.rechunk({0: chunk_rows})
        Y = None if Y is None else Y.rechunk({0: chunk_rows})
    return X, Y


def read_table(path, columns=None, target=None, chunk_rows: int | None = None):
    """Read Parquet, CSV or Zarr data as Dask arrays ``X``, ``y``, choosing the reader by path.

    ``*.zarr`` directories go to :func:`from_zarr` (``columns`` is then the name of the feature
    array, default ``"X"``, and ``target`` that of the target array); ``*.csv`` files or globs
    to :func:`from_csv`; anything else (``*.parquet`` files, directories of them) to
    :func:`from_parquet`.

    Parameters
    ----------
    path : str or os.PathLike
    columns : list of str (or, for Zarr, the feature array's name), optional
    target : str, optional
    chunk_rows : int, optional
        Rows per block.

    Returns
    -------
    X : dask.array.Array (n, d), y : dask.array.Array or None

    Examples
    --------
    >>> X, y = levrf.distributed.read_table("data/", target="price", chunk_rows=500_000)  # doctest: +SKIP
    >>> model = levrf.RandomFeatureRidge(n_features=1024).fit(X, y)  # doctest: +SKIP
    """
    path = _check_path(path)
    stem = path.rstrip("/\\")
    if stem.endswith(".zarr"):
        if columns is not None and not isinstance(columns, str):
            raise TypeError("for a Zarr store, columns must be the name (str) of the feature array")
        return from_zarr(path, x=columns or "X", y=target, chunk_rows=chunk_rows)
    if stem.endswith(".csv") or stem.endswith(".csv.gz"):
        return from_csv(path, columns, target, chunk_rows)
    return from_parquet(path, columns, target, chunk_rows)
