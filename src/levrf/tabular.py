"""Fit and predict on a user's own table (CSV or Parquet): the engine of ``levrf fit/predict``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .kernels import kernel_from_spec

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` file into a DataFrame, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"data file {str(path)!r} must end in .csv or .parquet")
    try:
        return reader(path)
    except Exception as exc:  # parser errors differ between pandas and pyarrow
        raise ValueError(f"could not read {str(path)!r}: {exc}") from exc


def numeric_columns(frame: pd.DataFrame, columns: list[str], what: str = "column") -> pd.DataFrame:
    """Select ``columns``; every one must exist, be numeric and have no missing value."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"unknown {what}(s) {missing}; the table has columns {list(frame.columns)}")
    for c in columns:
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            raise ValueError(f"{what} {c!r} is not numeric (dtype {frame[c].dtype}); levrf needs numbers")
        if frame[c].isna().any():
            raise ValueError(f"{what} {c!r} has {int(frame[c].isna().sum())} missing values")
    return frame[columns].astype(np.float64)


def fit_table(data, target: str, *, columns: str | None = None, kernel: str = "gaussian",
              n_features: int = 256, sampling: str = "gaussian", alpha: float = 1e-2, seed: int = 0,
              out: str | Path | None = None):
    """Standardize predictors and target, fit ``RandomFeatureRidge``, optionally save the model.

    The target is standardized too (and predictions mapped back), which gives the ridge model an
    intercept: random features of a shift-invariant kernel cannot represent a large constant
    offset cheaply under the ridge penalty.

    Returns the fitted pipeline and the number of training rows.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from . import RandomFeatureRidge
    from .persistence import save

    frame = read_table(data)
    y = numeric_columns(frame, [target], "target column")[target].to_numpy()
    names = [c.strip() for c in columns.split(",")] if columns else [c for c in frame.columns if c != target]
    if not names:
        raise ValueError("the table has no predictor columns besides the target")
    X = numeric_columns(frame, names)
    spec = kernel_from_spec(kernel, default_bandwidth=math.sqrt(len(names)))
    pipeline = Pipeline([
        ("scale", StandardScaler()),
        ("ridge", RandomFeatureRidge(spec, n_features=n_features, sampling=sampling, alpha=alpha,
                                     random_state=seed)),
    ])
    model = TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())
    model.fit(X, y)
    if out is not None:
        save(model, out)
    return model, len(y)


def predict_table(model_path, data, out) -> int:
    """Predict every row of ``data`` with a saved model; write a CSV with a ``prediction`` column."""
    from .persistence import load

    model = load(model_path)
    frame = read_table(data)
    names = [str(c) for c in getattr(model, "feature_names_in_", [])]
    X = numeric_columns(frame, names) if names else frame.astype(np.float64)
    prediction = np.asarray(model.predict(X))
    pd.DataFrame({"prediction": prediction.reshape(len(X), -1)[:, 0]}).to_csv(out, index=False)
    return len(X)
