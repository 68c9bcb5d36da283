"""The one Cholesky factorization of levrf, with its one jitter policy.

Every symmetric positive definite system in levrf (``K + αI`` of exact kernel ridge and of the
leverage scores, ``ΨᵀΨ + αI`` of the random-feature ridge, the Nyström and pool Gram matrices,
the NTK ridge twin) is factored here. When the factorization fails because the matrix is
numerically singular, it is retried with ``A + jitter·I`` for
``jitter = 10**k · eps · mean(|diag A|)``, ``k = 0, …, JITTER_TRIES − 1`` (``eps`` the machine
epsilon of the dtype); a :class:`JitterWarning` reports the jitter used, and if every try fails a
:class:`NotPositiveDefiniteError` (both a ``numpy.linalg.LinAlgError`` and a ``ValueError``, on
every NumPy version) says what to change.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

#: jitter tries: ``jitter_k = 10**k · eps · mean(diag A)`` for k = 0..JITTER_TRIES-1
JITTER_TRIES = 6


class JitterWarning(UserWarning):
    """A diagonal jitter had to be added to make a system numerically positive definite."""


class NotPositiveDefiniteError(np.linalg.LinAlgError, ValueError):
    """A system is not numerically positive definite. A ``ValueError`` whatever the NumPy version
    (``numpy.linalg.LinAlgError`` itself is one only from NumPy 2.0)."""


def _not_positive_definite(what: str, jitter: float | None) -> NotPositiveDefiniteError:
    tried = f", even with a diagonal jitter of {jitter:.3g}" if jitter is not None else ""
    return NotPositiveDefiniteError(
        f"{what} is not numerically positive definite{tried}; increase alpha, use dtype='float64', or "
        "check that the kernel is positive semi-definite"
    )


def _factor(A: torch.Tensor, what: str, jitter: bool, warn: bool, stacklevel: int) -> tuple[torch.Tensor, float]:
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(A).__name__}")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{what} must be a square matrix, got shape {tuple(A.shape)}")
    if not A.is_floating_point():
        raise TypeError(f"{what} must be a floating-point matrix, got dtype {A.dtype}")
    if not bool(torch.isfinite(A).all()):
        raise ValueError(
            f"{what} contains NaN or infinite values; the inputs are too large for this kernel and "
            "dtype (rescale X or use dtype='float64')"
        )
    L, info = torch.linalg.cholesky_ex(A)
    if int(info) == 0:
        return L, 0.0
    if not jitter:
        raise _not_positive_definite(what, None)
    eps = torch.finfo(A.dtype).eps
    scale = float(A.diagonal().abs().mean()) or 1.0
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    for k in range(JITTER_TRIES):
        added = 10.0**k * eps * scale
        L, info = torch.linalg.cholesky_ex(A + added * eye)
        if int(info) == 0:
            break
    else:
        raise _not_positive_definite(what, added)
    if warn:
        warnings.warn(
            f"{what} was numerically singular; added {added:.3g} to its diagonal (increase alpha "
            "or use dtype='float64' to avoid this)",
            JitterWarning,
            stacklevel=stacklevel,
        )
    return L, added


def cholesky_factor(
    A: torch.Tensor, *, what: str = "the system matrix", jitter: bool = True, warn: bool = True
) -> tuple[torch.Tensor, float]:
    """Lower Cholesky factor ``L`` of ``A`` (or of ``A + jitter·I``, see the module docstring).

    Parameters
    ----------
    A : torch.Tensor (D, D)
        Symmetric positive (semi-)definite floating-point matrix; only its lower triangle is read.
    what : str
        How ``A`` is named in warnings and errors (e.g. ``"K + alpha*I"``).
    jitter : bool, default=True
        Retry with the documented jitter when the factorization fails; ``False`` raises at once
        (for diagnostics, which must measure ``A`` itself).
    warn : bool, default=True
        Issue a :class:`JitterWarning` when a jitter was added (callers for which a singular
        matrix is expected, such as duplicated Nyström landmarks, record the jitter instead).

    Returns
    -------
    L : torch.Tensor (D, D)
    jitter : float
        The diagonal jitter that was added (0.0 when none was needed).

    Raises
    ------
    TypeError, ValueError
        ``A`` is not a square floating-point tensor, or holds NaN/inf.
    numpy.linalg.LinAlgError
        ``A`` is not numerically positive definite, even with the largest jitter.
    """
    return _factor(A, what, jitter, warn, stacklevel=5)


def shifted_cholesky(
    K: torch.Tensor, shift: float, *, what: str = "K + alpha*I", jitter: bool = True, warn: bool = True
) -> tuple[torch.Tensor, float]:
    """Lower Cholesky factor of ``K + shift·I`` (``K`` is not modified), as :func:`cholesky_factor`.

    The jitter, when needed, is scaled by the diagonal of the shifted matrix. Returns
    ``(L, jitter)``.
    """
    if not isinstance(K, torch.Tensor):
        raise TypeError(f"{what} must be built from a torch.Tensor, got {type(K).__name__}")
    A = K.clone()
    if A.ndim == 2 and A.shape[0] == A.shape[1]:
        A.diagonal().add_(float(shift))
    return _factor(A, what, jitter, warn, stacklevel=5)


def solve_with_factor(B: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """``(L Lᵀ)⁻¹ B`` for a lower Cholesky factor ``L``: two triangular solves.

    The values of ``torch.cholesky_solve(B, L)``, which ran 1.3–6× slower on the 2-core machine
    (M = 2,048 and 4,096, 1 to 200 right-hand sides; development run).
    """
    return torch.linalg.solve_triangular(L.T, torch.linalg.solve_triangular(L, B, upper=False), upper=True)
