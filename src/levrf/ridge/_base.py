"""Plumbing shared by the ridge estimators: parameter checks, NumPy ↔ torch, targets, chunking."""

from __future__ import annotations

import copy

import numpy as np
import torch

from .._validation import check_positive, check_positive_int, resolve_device, resolve_dtype
from ..features import resolve_kernel
from ..kernels import Kernel


def check_ridge_params(est) -> tuple[torch.dtype, torch.device]:
    """Validate the parameters every ridge estimator has; return the torch dtype and device."""
    if hasattr(est, "alpha"):
        check_positive(est.alpha, "alpha")
    if est.batch_size is not None:
        check_positive_int(est.batch_size, "batch_size")
    return resolve_dtype(est.dtype), resolve_device(est.device)


def kernel_on(kernel, dtype: str, device: str) -> Kernel:
    """The estimator's kernel (``None`` → ``GaussianKernel(1.0)``) computing in ``dtype`` on ``device``."""
    kernel = resolve_kernel(kernel)
    if kernel.dtype == dtype and str(kernel.device) == str(device):
        return kernel
    moved = copy.copy(kernel)  # kernels keep dtype/device as plain attributes
    moved.dtype, moved.device = dtype, device
    return moved


def to_tensor(A: np.ndarray, dtype: torch.dtype, device: torch.device, *, copy: bool = False) -> torch.Tensor:
    """A validated NumPy array as a C-contiguous torch tensor (sharing memory when it can)."""
    A = np.ascontiguousarray(A)
    if copy or not A.flags.writeable:  # torch cannot wrap read-only memory (e.g. memmaps)
        A = A.copy()
    return torch.from_numpy(A).to(device=device, dtype=dtype)


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
