"""Fit and predict on a user's own table (CSV or Parquet): the engine of ``levrf fit/predict``.

* :class:`TableEncoder` turns a DataFrame into a float matrix: numeric columns as they are,
  categorical columns one-hot encoded, missing values imputed. Its learned state is plain
  (strings, lists of strings, float arrays) so that a model file can check it.
* :func:`fit_table` / :func:`predict_table` fit and apply ``encoder → scaler → ridge`` with the
  target standardized; columns are always matched by name.
* :func:`check_output_path` and :func:`write_csv_atomic` make sure an output never replaces an
  input, never overwrites an existing file unasked, and is never left half-written.

Information the user should see (imputed values, unseen categories, dropped rows) is issued as a
:class:`TableNote` warning; the ``levrf`` command prints it on stderr.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .kernels import kernel_from_spec, kernel_to_spec

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
CATEGORICAL_MODES = ("onehot", "drop", "error")
MISSING_MODES = ("impute", "drop", "error")
METHODS = ("auto", "random-features", "exact")
#: the feature maps of ``method="random-features"``: random features or Nyström centers
FEATURE_KINDS = ("random", "nystrom")
#: how Nyström centers are chosen (levrf.Nystroem's ``centers``)
CENTER_MODES = ("uniform", "leverage")
#: how leverage samplers score weights (RandomFeatureRidge's ``leverage_method``)
LEVERAGE_METHODS = ("auto", "exact", "approximate")
#: how the random-feature and Nyström models solve their ridge system (``solver=``)
SOLVER_MODES = ("auto", "cholesky", "cg")
#: exact kernel ridge builds and factors the n × n kernel matrix (20,000 rows: 3.2 GB in float64)
EXACT_MAX_ROWS = 20_000
#: numeric values beyond this magnitude are refused: their squares (standardization, distances)
#: would overflow float64 (max ≈ 1.8e308) once summed over rows
MAX_ABS_VALUE = 1e150
#: share of the rows held out for the fit's score, and the fewest rows for which a score is given
HOLDOUT_FRACTION = 0.1
MIN_ROWS_FOR_SCORE = 20


class TableNote(UserWarning):
    """Something the user should know about how a table was encoded (imputation, unseen values)."""


# ----------------------------------------------------------------------------------------------
# reading and checking columns


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` file into a DataFrame with at least one row.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for an unreadable or
    header-only table.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist or is not a file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"data file {str(path)!r} must end in .csv or .parquet")
    try:
        frame = reader(path)
    except OSError:
        raise
    except Exception as exc:  # parser errors differ between pandas and pyarrow
        raise ValueError(f"could not read {str(path)!r} as a table: {exc}") from exc
    if len(frame) == 0:
        raise ValueError(f"the table {str(path)!r} has no rows (only a header)")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _example(column: pd.Series, mask) -> str:
    return repr(column[np.asarray(mask)].iloc[0])


def check_numeric_values(values: np.ndarray, name: str) -> None:
    """Refuse infinite values and values whose squares overflow float64 (NaN means missing)."""
    infinite = np.isinf(values)
    if infinite.any():
        raise ValueError(f"column {name!r} has {int(infinite.sum())} infinite value(s) ('inf' in the file, "
                         "or a number beyond float64's range); levrf needs finite numbers")
    huge = np.abs(np.nan_to_num(values)) > MAX_ABS_VALUE
    if huge.any():
        raise ValueError(f"column {name!r} has {int(huge.sum())} value(s) beyond ±{MAX_ABS_VALUE:g} (largest "
                         f"magnitude {np.nanmax(np.abs(values)):.3g}); their squares overflow float64 when the "
                         "column is standardized: rescale the column")


def numeric_values(column: pd.Series, name: str) -> np.ndarray:
    """The float64 values of a column that must be numeric (NaN for missing)."""
    if pd.api.types.is_bool_dtype(column):
        raise ValueError(f"column {name!r} is boolean; a numeric column was expected")
    if not _is_numeric(column):
        parsed = pd.to_numeric(column, errors="coerce")
        bad = parsed.isna() & column.notna()
        if bad.any():
            raise ValueError(f"column {name!r} is not numeric: it holds {int(bad.sum())} non-numeric value(s) "
                             f"such as {_example(column, bad)}")
        column = parsed
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    check_numeric_values(values, name)
    return values


def _as_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Categorical values as an object array of str, and the mask of missing entries."""
    missing = column.isna().to_numpy()
    text = column.astype(object).to_numpy()
    text = np.array(["" if m else str(v) for v, m in zip(text, missing, strict=True)], dtype=object)
    return text, missing


def _split_columns(frame: pd.DataFrame, categorical: str) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns that ``categorical`` mode uses; ``error`` refuses text."""
    numeric, text = [], []
    for name in frame.columns:
        if _is_numeric(frame[name]):
            numeric.append(name)
        elif categorical == "error":
            raise ValueError(f"column {name!r} is not numeric (dtype {frame[name].dtype}, e.g. "
                             f"{_example(frame[name], frame[name].notna())}); categorical='onehot' "
                             "(--categorical onehot) encodes it, 'drop' leaves it out")
        elif categorical == "onehot":
            text.append(name)
    return numeric, text


def _missing_summary(frame: pd.DataFrame, columns: list[str]) -> tuple[int, str]:
    counts = frame[columns].isna().sum()
    rows = int(frame[columns].isna().any(axis=1).sum())
    return rows, ", ".join(f"{c!r}: {int(k)}" for c, k in counts.items() if k)


# ----------------------------------------------------------------------------------------------
# the encoder


class TableEncoder(TransformerMixin, BaseEstimator):
    """Encode a DataFrame as a float matrix: numeric columns, then one-hot categorical columns.

    Numeric columns (numbers, not booleans) pass through; every other column is categorical.
    Missing numeric values are replaced by the training median, missing categorical values by
    the most frequent training value (the smallest one on ties, as scikit-learn's
    ``SimpleImputer``). A category unseen in training encodes as all zeros. Columns are always
    selected by name, so the column order of ``transform``'s input does not matter. The matrix
    equals ``SimpleImputer(strategy="median")`` on the numeric columns followed by
    ``SimpleImputer(strategy="most_frequent")`` + ``OneHotEncoder(handle_unknown="ignore")`` on
    the categorical ones.

    Parameters
    ----------
    categorical : {"onehot", "drop", "error"}, default="onehot"
        What to do with non-numeric columns: one-hot encode them, leave them out, or refuse them.
    missing : {"impute", "drop", "error"}, default="impute"
        ``"impute"`` fills missing values (a :class:`TableNote` says how many, where). ``"drop"``
        and ``"error"`` refuse missing values in ``fit`` and ``transform``; with ``"drop"`` the
        caller removes incomplete rows before ``fit`` (as :func:`fit_table` does).

    Attributes
    ----------
    feature_names_in_ : ndarray of str (dtype object)
        The columns seen in ``fit``.
    n_features_in_ : int
    numeric_columns_ : list of str
    categorical_columns_ : list of str
        The one-hot encoded columns (empty unless ``categorical="onehot"``).
    medians_ : ndarray of float64, one per numeric column
    categories_ : list of list of str, one sorted list per categorical column
    modes_ : list of str, the most frequent value of each categorical column
    """

    def __init__(self, categorical: str = "onehot", missing: str = "impute") -> None:
        self.categorical = categorical
        self.missing = missing

    def _check_params(self) -> None:
        if self.categorical not in CATEGORICAL_MODES:
            raise ValueError(f"categorical must be one of {', '.join(CATEGORICAL_MODES)}, got {self.categorical!r}")
        if self.missing not in MISSING_MODES:
            raise ValueError(f"missing must be one of {', '.join(MISSING_MODES)}, got {self.missing!r}")

    @staticmethod
    def _check_frame(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with named columns, got {type(X).__name__}")
        if X.shape[0] == 0:
            raise ValueError("X has no rows")
        if not all(isinstance(c, str) for c in X.columns):
            raise TypeError("X's column names must be strings")
        if X.columns.duplicated().any():
            raise ValueError(f"X has duplicate column names {sorted(set(X.columns[X.columns.duplicated()]))}")
        return X

    def _refuse_missing(self, frame: pd.DataFrame, columns: list[str]) -> None:
        if self.missing == "impute" or not columns:
            return
        rows, where = _missing_summary(frame, columns)
        if rows:
            raise ValueError(f"{rows} row(s) have a missing value ({where}); the encoder has "
                             f"missing={self.missing!r}, which refuses missing values (missing='impute' fills them)")

    def fit(self, X: pd.DataFrame, y=None) -> TableEncoder:
        """Learn the columns, medians, categories and most frequent values of ``X``."""
        self._check_params()
        frame = self._check_frame(X)
        numeric, text = _split_columns(frame, self.categorical)
        if not numeric and not text:
            raise ValueError(f"X has no usable column (categorical={self.categorical!r} leaves none of "
                             f"{list(frame.columns)})")
        self._refuse_missing(frame, numeric + text)
        medians = []
        for name in numeric:
            values = numeric_values(frame[name], name)
            present = values[~np.isnan(values)]
            if present.size == 0:
                raise ValueError(f"column {name!r} has no values (every row is missing)")
            medians.append(float(np.median(present)))
        categories, modes = [], []
        for name in text:
            values, missing = _as_text(frame[name])
            if missing.all():
                raise ValueError(f"column {name!r} has no values (every row is missing)")
            uniques, counts = np.unique(values[~missing].astype(str), return_counts=True)
            categories.append([str(u) for u in uniques])
            modes.append(str(uniques[int(np.argmax(counts))]))  # argmax: the first, smallest, on ties
        self.feature_names_in_ = np.asarray(list(frame.columns), dtype=object)
        self.n_features_in_ = int(frame.shape[1])
        self.numeric_columns_ = numeric
        self.categorical_columns_ = text
        self.medians_ = np.asarray(medians, dtype=np.float64)
        self.categories_ = categories
        self.modes_ = modes
        return self

    def required_columns(self) -> list[str]:
        """The columns ``transform`` reads (``categorical="drop"`` needs no text column)."""
        check_is_fitted(self)
        return [*self.numeric_columns_, *self.categorical_columns_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names: the numeric columns, then ``column=category`` per one-hot column."""
        check_is_fitted(self)
        names = list(self.numeric_columns_)
        for column, categories in zip(self.categorical_columns_, self.categories_, strict=True):
            names += [f"{column}={c}" for c in categories]
        return np.asarray(names, dtype=object)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix of ``X`` (columns selected by name; extra columns are ignored)."""
        check_is_fitted(self)
        self._check_params()
        frame = self._check_frame(X)
        required = self.required_columns()
        absent = [c for c in required if c not in frame.columns]
        if absent:
            raise ValueError(f"X lacks column(s) {', '.join(map(repr, absent))} (the encoder was fitted on "
                             f"{', '.join(self.feature_names_in_)})")
        self._refuse_missing(frame, required)
        blocks, imputed, unseen = [], [], []
        for name, median in zip(self.numeric_columns_, self.medians_, strict=True):
            values = numeric_values(frame[name], name)
            missing = np.isnan(values)
            if missing.any():
                values = np.where(missing, median, values)
                imputed.append(f"{int(missing.sum())} in {name!r} (median {median:.6g})")
            blocks.append(values[:, None])
        for name, categories, mode in zip(self.categorical_columns_, self.categories_, self.modes_, strict=True):
            values, missing = _as_text(frame[name])
            if missing.any():
                values[missing] = mode
                imputed.append(f"{int(missing.sum())} in {name!r} (most frequent {mode!r})")
            codes = pd.Index(categories).get_indexer(values)  # -1: unseen
            new = codes < 0
            if new.any():
                shown = ", ".join(map(repr, sorted(set(values[new]))[:5]))
                unseen.append(f"{int(new.sum())} row(s) of {name!r} hold categories not seen in training "
                              f"({shown}); they encode as all zeros")
            onehot = np.zeros((len(values), len(categories)))
            onehot[np.flatnonzero(~new), codes[~new]] = 1.0
            blocks.append(onehot)
        if imputed:
            warnings.warn(TableNote(f"imputed missing values: {', '.join(imputed)}"), stacklevel=2)
        for note in unseen:
            warnings.warn(TableNote(note), stacklevel=2)
        return np.hstack(blocks)


# ----------------------------------------------------------------------------------------------
# outputs


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links
    except (OSError, RuntimeError):  # unresolvable symlink loops: not provably the same
        return False


def check_output_path(out: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (), *,
                      force: bool = False, name: str = "out") -> Path:
    """Refuse an output path that is an input, a directory, in a missing directory, or exists.

    ``inputs`` are compared by resolved path and, where both exist, ``os.path.samefile``
    (symlinks and hard links). An existing file is refused unless ``force``. Raises ``OSError``
    subclasses (``FileExistsError``, ``IsADirectoryError``, ``FileNotFoundError``,
    ``PermissionError``) whose message names ``name``.
    """
    if not isinstance(out, str | os.PathLike) or not str(out):
        raise TypeError(f"{name} must be a non-empty str or path, got {out!r}")
    out = Path(out)
    for given in inputs:
        if _same_file(out, Path(given)):
            raise FileExistsError(f"{name} {str(out)!r} is the input file {str(given)!r}; refusing to "
                                  "overwrite an input: choose another output path")
    if out.is_dir():
        raise IsADirectoryError(f"{name} {str(out)!r} is a directory; give a file path")
    parent = out.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"the directory {str(parent)!r} of {name} {str(out)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write to the directory {str(parent)!r} of {name} {str(out)!r}")
    if out.exists() and not force:
        raise FileExistsError(f"{name} {str(out)!r} already exists; refusing to overwrite it "
                              "(--force / force=True overwrites)")
    return out


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as CSV through a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------------------------
# fit and predict


@dataclass(frozen=True)
class FitSummary:
    """What :func:`fit_table` did: the settings it resolved and the held-out score."""

    n_rows: int
    n_columns: int  # after encoding
    predictors: list[str]
    kernel: str  # resolved spec, with its bandwidth
    method: str  # "random-features", "nystrom" or "exact"
    n_features: int | None  # or the number of Nyström centers
    sampling: str | None  # or how the Nyström centers were chosen
    alpha: float
    score: float | None  # R² on the held-out rows, before the final fit on all rows
    n_holdout: int
    n_dropped: int

    def describe(self) -> str:
        """One line: rows, columns, kernel, method, alpha and score."""
        method = {"random-features": f"random features (n_features={self.n_features}, sampling={self.sampling})",
                  "nystrom": f"Nyström (n_components={self.n_features}, centers={self.sampling})"
                  }.get(self.method, "exact kernel ridge")
        score = (f"held-out R² {self.score:.4f} ({self.n_holdout} rows, {HOLDOUT_FRACTION:.0%}, held out "
                 "before the final fit on all rows)" if self.score is not None
                 else f"no score (fewer than {MIN_ROWS_FOR_SCORE} rows)")
        return (f"fitted on {self.n_rows} rows × {self.n_columns} columns (after encoding); kernel "
                f"{self.kernel}; {method}; alpha={self.alpha:g}; {score}")


def _parse_columns(columns, frame: pd.DataFrame, target: str) -> list[str]:
    if columns is None:
        names = [c for c in frame.columns if c != target]
    else:
        if isinstance(columns, str):
            names = [c.strip() for c in columns.split(",") if c.strip()]
        elif isinstance(columns, Sequence) and all(isinstance(c, str) for c in columns):
            names = list(columns)
        else:
            raise TypeError(f"columns must be a comma-separated str or a list of str, got {columns!r}")
        if not names:
            raise ValueError("columns names no column")
        if target in names:
            raise ValueError(f"columns include the target column {target!r}; the target cannot be its own predictor")
        duplicated = sorted({c for c in names if names.count(c) > 1})
        if duplicated:
            raise ValueError(f"columns name {', '.join(map(repr, duplicated))} more than once")
        unknown = [c for c in names if c not in frame.columns]
        if unknown:
            raise ValueError(f"predictor column(s) {', '.join(map(repr, unknown))} are not in the table; it has "
                             f"columns {', '.join(frame.columns)}")
    if not names:
        raise ValueError("the table has no predictor columns besides the target")
    return names


def fit_table(data, target: str, *, columns: str | Sequence[str] | None = None, kernel: str = "gaussian",
              n_features: int = 256, sampling: str = "gaussian", alpha: float = 1e-2, seed: int = 0,
              method: str = "auto", categorical: str = "onehot", missing: str = "impute",
              score: bool = True, out: str | Path | None = None, force: bool = False,
              key: bytes | str | None = None, features_kind: str = "random", centers: str = "uniform",
              leverage_method: str = "auto", solver: str = "auto"):
    """Encode, standardize and fit a ridge model on a table; optionally save it.

    The model is ``TransformedTargetRegressor(Pipeline([TableEncoder, StandardScaler, ridge]),
    StandardScaler())``: standardizing the target gives the ridge model an intercept (random
    features of a shift-invariant kernel cannot represent a large offset cheaply under the
    penalty). ``method="exact"`` (automatic for kernels without random features, such as
    ``deep-relu-ntk``) fits :class:`levrf.KernelRidge`, at most ``EXACT_MAX_ROWS`` rows; otherwise
    :class:`levrf.RandomFeatureRidge` with ``leverage_method`` (``"auto"``: exact leverage only
    where its n × n matrix fits the ``leverage_exact_bytes`` budget), or with
    ``features_kind="nystrom"`` :class:`levrf.NystromRidge` with ``n_features`` centers chosen by
    ``centers`` (any kernel with a closed form, deep-relu-ntk included); both solve by ``solver``
    (``"auto"``, ``"cholesky"`` or ``"cg"``, see ``docs/ridge.md``). A kernel spec without a bandwidth gets sqrt(d), d the number
    of columns after encoding. With ``score``, R² on a held-out ``HOLDOUT_FRACTION`` of the rows
    (seeded by ``seed``) is computed first, then the final model is fitted on all rows.

    Rows with a missing target are dropped (``missing="error"`` refuses them); ``missing="drop"``
    also drops rows with a missing predictor. Returns ``(model, FitSummary)``.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from . import KernelRidge, NystromRidge, RandomFeatureRidge
    from ._validation import check_positive, check_positive_int
    from .persistence import save

    if not isinstance(target, str) or not target:
        raise TypeError(f"target must be a column name (str), got {target!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if categorical not in CATEGORICAL_MODES:
        raise ValueError(f"categorical must be one of {', '.join(CATEGORICAL_MODES)}, got {categorical!r}")
    if missing not in MISSING_MODES:
        raise ValueError(f"missing must be one of {', '.join(MISSING_MODES)}, got {missing!r}")
    if features_kind not in FEATURE_KINDS:
        raise ValueError(f"features_kind must be one of {', '.join(FEATURE_KINDS)}, got {features_kind!r}")
    if centers not in CENTER_MODES:
        raise ValueError(f"centers must be one of {', '.join(CENTER_MODES)}, got {centers!r}")
    if leverage_method not in LEVERAGE_METHODS:
        raise ValueError(f"leverage_method must be one of {', '.join(LEVERAGE_METHODS)}, got {leverage_method!r}")
    if solver not in SOLVER_MODES:
        raise ValueError(f"solver must be one of {', '.join(SOLVER_MODES)}, got {solver!r}")
    n_features = check_positive_int(n_features, "n_features")
    alpha = check_positive(alpha, "alpha")
    if out is not None:
        check_output_path(out, [data], force=force)
    kernel_from_spec(kernel)  # a bad spec fails before the table is read

    frame = read_table(data)
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} is not in the table; it has columns {', '.join(frame.columns)}")
    names = _parse_columns(columns, frame, target)
    y_all = numeric_values(frame[target], target)
    keep = ~np.isnan(y_all)
    n_dropped = 0
    if not keep.all():
        if missing == "error":
            raise ValueError(f"target column {target!r} has {int((~keep).sum())} missing value(s); "
                             "missing='error' refuses them ('impute' or 'drop' drops those rows)")
        n_dropped = int((~keep).sum())
        warnings.warn(TableNote(f"dropped {n_dropped} row(s) with a missing target {target!r}"), stacklevel=2)
    X = frame[names]
    if missing == "drop":
        numeric, text = _split_columns(X, categorical)
        complete = ~X[numeric + text].isna().any(axis=1).to_numpy()
        extra = int((keep & ~complete).sum())
        if extra:
            warnings.warn(TableNote(f"dropped {extra} row(s) with a missing predictor value "
                                    "(missing='drop')"), stacklevel=2)
        n_dropped += extra
        keep &= complete
    if not keep.any():
        raise ValueError("no rows are left after dropping the rows with a missing value")
    X, y = X[keep].reset_index(drop=True), y_all[keep]

    encoder = TableEncoder(categorical=categorical, missing=missing).fit(X)
    d = len(encoder.get_feature_names_out())
    spec = kernel_from_spec(kernel, default_bandwidth=math.sqrt(d))
    if method == "auto":
        method = "random-features" if spec.has_features or features_kind == "nystrom" else "exact"
    if method == "random-features" and features_kind == "nystrom":
        ridge = NystromRidge(spec, n_components=n_features, centers=centers, alpha=alpha, random_state=seed,
                             solver=solver)
    elif method == "random-features":
        if not spec.has_features:
            raise ValueError(f"kernel {kernel_to_spec(spec)!r} has no random features (it is known only in closed "
                             "form); use method 'exact' (--method exact) or 'auto'")
        ridge = RandomFeatureRidge(spec, n_features=n_features, sampling=sampling, alpha=alpha,
                                   leverage_method=leverage_method, random_state=seed, solver=solver)
    else:
        if len(y) > EXACT_MAX_ROWS:
            raise ValueError(f"exact kernel ridge builds an n × n kernel matrix; {len(y):,} rows exceed its limit "
                             f"of {EXACT_MAX_ROWS:,} rows: use a kernel with random features (e.g. relu-ntk, "
                             "gaussian) or fewer rows")
        ridge = KernelRidge(spec, alpha=alpha)
    pipeline = Pipeline([("encode", TableEncoder(categorical=categorical, missing=missing)),
                         ("scale", StandardScaler()), ("ridge", ridge)])
    model = TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())

    r2, n_holdout = None, 0
    if score and len(y) >= MIN_ROWS_FOR_SCORE:
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=HOLDOUT_FRACTION, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TableNote)  # the final fit reports the notes once
            r2 = float(clone(model).fit(X_train, y_train).score(X_test, y_test))
        n_holdout = len(y_test)
    model.fit(X, y)
    if out is not None:
        save(model, out, key=key)
    if method == "random-features" and features_kind == "nystrom":
        method, sampling = "nystrom", centers
    summary = FitSummary(n_rows=len(y), n_columns=d, predictors=names, kernel=kernel_to_spec(spec, digits=4),
                         method=method, n_features=n_features if method != "exact" else None,
                         sampling=sampling if method != "exact" else None, alpha=alpha, score=r2,
                         n_holdout=n_holdout, n_dropped=n_dropped)
    return model, summary


def load_regressor(path: str | os.PathLike, *, key: bytes | str | None = None) -> BaseEstimator:
    """Load a model file that holds a fitted levrf regressor (or a pipeline ending in one).

    ``key``: the authenticity key the file was saved with (see ``docs/security.md``).

    Raises ``levrf.ModelFileError`` for any other content, ``FileNotFoundError`` for a missing file.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    from . import KernelRidge, NystromRidge, NystromRidgeCV, RandomFeatureRidge
    from .persistence import ModelFileError, load

    kinds: list[type] = [TransformedTargetRegressor, Pipeline, RandomFeatureRidge, KernelRidge, NystromRidge,
                         NystromRidgeCV]
    import levrf

    if hasattr(levrf, "RandomFeatureRidgeCV"):
        kinds.append(levrf.RandomFeatureRidgeCV)
    model = load(path, expected=tuple(kinds), key=key)
    inner = model.regressor_ if isinstance(model, TransformedTargetRegressor) and hasattr(model, "regressor_") else model
    if not is_regressor(model) or not is_regressor(inner):
        raise ModelFileError(f"{str(path)!r} holds a {type(model).__name__} that is not a regressor; "
                             "levrf predict needs a model written by `levrf fit`")
    try:
        check_is_fitted(model)
        check_is_fitted(inner[-1] if isinstance(inner, Pipeline) else inner)
    except NotFittedError as exc:
        raise ModelFileError(f"{str(path)!r} holds an unfitted {type(model).__name__}") from exc
    return model


def _encoder_of(model) -> TableEncoder | None:
    from sklearn.pipeline import Pipeline

    inner = getattr(model, "regressor_", model)
    if isinstance(inner, Pipeline) and isinstance(inner.steps[0][1], TableEncoder):
        return inner.steps[0][1]
    return None


def select_predictors(model, frame: pd.DataFrame, source: str = "DATA"):
    """The model's input columns from ``frame``, by name; by position only for unnamed models.

    A model fitted on a DataFrame knows its column names: they are selected by name (any order,
    extra columns ignored). A model fitted on a NumPy array knows only its column count: the
    table must then have exactly that many columns, used in file order.
    """
    encoder = _encoder_of(model)
    if encoder is not None:
        names, fitted_on = encoder.required_columns(), list(encoder.feature_names_in_)
    else:
        names = [str(c) for c in getattr(model, "feature_names_in_", [])]
        fitted_on = names
    if names:
        absent = [c for c in names if c not in frame.columns]
        if absent:
            which = (f"predictor column {absent[0]!r} is" if len(absent) == 1
                     else f"predictor columns {', '.join(map(repr, absent))} are")
            raise ValueError(f"{which} missing from {source} (the model was fitted on {', '.join(fitted_on)})")
        if encoder is not None:
            return frame[names]
        return pd.DataFrame({c: numeric_values(frame[c], c) for c in names})
    n_in = getattr(model, "n_features_in_", None)
    if not isinstance(n_in, int | np.integer):
        from .persistence import ModelFileError

        raise ModelFileError("the model records neither its column names nor its number of columns")
    rule = (f"the model was fitted without column names (on an array), so {source}'s columns are used by position: "
            f"{source} must have exactly {int(n_in)} columns, in the training order")
    if frame.shape[1] != n_in:
        raise ValueError(f"{rule}; it has {frame.shape[1]}")
    header = list(frame.columns)
    if all(re.fullmatch(r"\d+", c) for c in header) and [int(c) for c in header] != list(range(int(n_in))):
        raise ValueError(f"{rule}; its header {','.join(header)} numbers the columns out of that order")
    values = np.column_stack([numeric_values(frame[c], c) for c in header])
    if np.isnan(values).any():
        rows, where = _missing_summary(frame, header)
        raise ValueError(f"{rows} row(s) of {source} have a missing value ({where}); this model has no imputer")
    return values


def predict_table(model_path, data, out=None, *, force: bool = False, key: bytes | str | None = None) -> np.ndarray:
    """Predict every row of ``data`` with a saved model; optionally write a CSV ``prediction`` column.

    Columns are matched by name (see :func:`select_predictors`). Returns the predictions.
    """
    if out is not None:
        check_output_path(out, [data, model_path], force=force)
    model = load_regressor(model_path, key=key)
    frame = read_table(data)
    X = select_predictors(model, frame, str(data))
    prediction = np.asarray(model.predict(X), dtype=np.float64).reshape(len(frame), -1)[:, 0]
    if not np.isfinite(prediction).all():
        raise ValueError(f"{int((~np.isfinite(prediction)).sum())} prediction(s) are not finite")
    if out is not None:
        write_csv_atomic(pd.DataFrame({"prediction": prediction}), out)
    return prediction
