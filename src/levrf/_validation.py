"""Input checking shared by every public function.

Every check raises ``ValueError`` or ``TypeError`` with a message that names the offending
argument, so that a user sees at once what to fix.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_dtype(dtype: str | torch.dtype, name: str = "dtype") -> torch.dtype:
    """Map ``"float64"``/``"float32"`` (or a torch dtype) to a torch floating dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"{name} must be float64 or float32, got {dtype}")
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    if dtype is np.float64 or dtype is np.float32:
        return _DTYPES[np.dtype(dtype).name]
    raise ValueError(f"{name} must be 'float64' or 'float32', got {dtype!r}")


def resolve_device(device: str | torch.device | None, name: str = "device") -> torch.device:
    """Return a torch device; a CUDA device must actually be available."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{name} must name a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} was requested but CUDA is not available")
    return dev


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def check_positive_int(value, name: str) -> int:
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_probability(value, name: str) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")
    return value


def as_matrix(
    X,
    name: str = "X",
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    allow_empty: bool = False,
) -> torch.Tensor:
    """Convert NumPy/pandas/torch/list input to a finite 2-D torch tensor.

    Raises ``TypeError`` for non-numeric data and ``ValueError`` for wrong rank, empty input
    and NaN/inf entries.
    """
    if X is None:
        raise ValueError(f"{name} must be a 2-D array, got None")
    if isinstance(X, torch.Tensor):
        if X.is_complex() or X.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
        T = X.detach()
    else:
        if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
            X = X.to_numpy()
        try:
            A = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
        if A.dtype == object:
            try:
                A = A.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must hold numbers; found non-numeric entries") from exc
        if A.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
        A = np.ascontiguousarray(A, dtype=np.float64)
        T = torch.from_numpy(A if A.flags.writeable else A.copy())
    if T.ndim != 2:
        hint = " (reshape a single feature with X.reshape(-1, 1))" if T.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(T.shape)}{hint}")
    if not allow_empty and (T.shape[0] == 0 or T.shape[1] == 0):
        raise ValueError(f"{name} must have at least one row and one column, got shape {tuple(T.shape)}")
    T = T.to(device=device if device is not None else T.device, dtype=dtype)
    if not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return T


def as_generator(
    random_state, device: torch.device | str = "cpu", name: str = "random_state"
) -> torch.Generator:
    """Turn ``None``/int/``torch.Generator`` into a ``torch.Generator``.

    ``None`` means seed 0: levrf never draws from an unseeded source, so the same call always
    gives the same numbers. ``name`` is the argument's name in error messages.
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        random_state = 0
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"{name} must be None, an int or a torch.Generator, got {type(random_state).__name__}"
        )
    if random_state < 0:
        raise ValueError(f"{name} must be >= 0, got {random_state}")
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(random_state))
    return gen
