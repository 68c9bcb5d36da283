"""Plumbing shared by the ridge estimators: NumPy ↔ torch, targets, chunking."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import validate_data

from .._validation import numpy_to_torch, resolve_device, resolve_dtype
from ..features import check_columns, record_columns, resolve_kernel
from ..kernels import Kernel
from ..rows import Rows, TensorRows, as_rows, is_dask_collection


def working_dtype_device(est) -> tuple[torch.dtype, torch.device]:
    """The torch dtype and device of an estimator whose parameters are validated already."""
    return resolve_dtype(est.dtype), resolve_device(est.device)


def kernel_on(kernel, dtype: str, device: str) -> Kernel:
    """The estimator's kernel (``None`` → ``GaussianKernel()``) computing in ``dtype`` on ``device``
    (``bandwidth="auto"`` unresolved: see :func:`levrf.features.fitted_kernel`)."""
    return resolve_kernel(kernel).to(dtype, device)


def to_tensor(A: np.ndarray, dtype: torch.dtype, device: torch.device, *, copy: bool = False,
              name: str = "X") -> torch.Tensor:
    """A validated NumPy array as a C-contiguous torch tensor (sharing memory when it can);
    values that overflow ``dtype`` are refused by name."""
    return numpy_to_torch(A, dtype, device, copy=copy, name=name)


def targets_2d(y: np.ndarray) -> np.ndarray:
    """Targets as an (n, k) float array (a 1-D ``y`` becomes one column)."""
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def check_finite(T: torch.Tensor, what: str) -> torch.Tensor:
    """Raise ``ValueError`` instead of letting NaN/inf leave an estimator."""
    if not bool(torch.isfinite(T).all()):
        raise ValueError(
            f"{what} are not finite: the inputs are too large for this kernel and dtype "
            "(rescale X or y, or use dtype='float64')"
        )
    return T


def training_rows(est, X, Y=None, *, y_validated=None) -> Rows:
    """Training data of a ridge estimator as :class:`levrf.rows.Rows` (n, d) with targets (n, k).

    In-memory ``X`` must have been validated with ``y`` by ``validate_data`` already and ``Y``
    is the (n, k) float target matrix; a Dask ``X`` (with in-memory or Dask ``Y``) is validated
    here and its columns recorded on ``est``.
    """
    dtype, device = resolve_dtype(est.dtype), resolve_device(est.device)
    if is_dask_collection(X) or is_dask_collection(Y):
        if Y is None:
            raise ValueError("y must be given: an array of shape (n,) or (n, n_targets)")
        rows = as_rows(X, Y, dtype=dtype, device=device)
        record_columns(est, rows)
        return rows
    single = y_validated is not None and np.ndim(y_validated) == 1
    return TensorRows(to_tensor(X, dtype, device), to_tensor(Y, dtype, device, name="y"), single_target=single,
                      feature_names=getattr(est, "feature_names_in_", None))


def input_rows(est, X) -> Rows:
    """Inputs of a fitted estimator (``predict``): validated, same number and names of columns."""
    dtype, device = resolve_dtype(est.dtype), resolve_device(est.device)
    if is_dask_collection(X):
        rows = as_rows(X, dtype=dtype, device=device)
        check_columns(est, rows)
        return rows
    X = validate_data(est, X, reset=False, dtype=[np.float64, np.float32])
    return TensorRows(to_tensor(X, dtype, device))
