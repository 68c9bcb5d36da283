"""Spectral diagnostics: statistical dimension (Eq. 4), spectral error (Eq. 2), Theorem 3.3's bound."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import as_matrix, check_positive, check_probability
from ..linalg import NotPositiveDefiniteError, shifted_cholesky

#: multiple of the unit roundoff that the checks of K allow: kernel matrices are accurate to a few
#: eps per entry, so their asymmetry and their negative eigenvalues stay far below these bounds
ROUNDING_FACTOR = 100
#: n up to which a failed PSD check also computes the smallest eigenvalue for its message
EIGEN_REPORT_MAX = 4096


def _input_eps(K) -> float:
    """Unit roundoff of the dtype K arrives in (a float32 K is checked at float32's eps)."""
    dtype = getattr(K, "dtype", None)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return float(torch.finfo(dtype).eps)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float64).eps)


def _square(K, name: str = "K") -> torch.Tensor:
    K = as_matrix(K, name, dtype=torch.float64)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(K.shape)}")
    return K


def check_kernel_matrix(K, name: str = "K") -> tuple[torch.Tensor, float]:
    """A finite, square, symmetric K as float64 (averaged with Kᵀ), and eps·n for the PSD check.

    Symmetry is required to ``max |K − Kᵀ| ≤ 100·eps·max |K|`` (eps of K's own dtype); beyond it
    K is refused rather than silently replaced by ``(K + Kᵀ)/2``.
    """
    eps = _input_eps(K)
    K = _square(K, name)
    scale = float(K.abs().max())
    asymmetry = float((K - K.T).abs().max())
    tol = ROUNDING_FACTOR * eps * scale
    if asymmetry > tol:
        raise ValueError(
            f"{name} is not symmetric: max |{name} - {name}.T| = {asymmetry:.3g} > tol {tol:.3g} "
            f"({ROUNDING_FACTOR}·eps·max|{name}|); a kernel matrix K(X, X) is symmetric"
        )
    return 0.5 * (K + K.T), eps * K.shape[0]


def _not_psd(name: str, smallest: float | None, tol: float) -> ValueError:
    found = f"its smallest eigenvalue is {smallest:.3g}" if smallest is not None else "it has an eigenvalue"
    return ValueError(
        f"{name} is not positive semi-definite: {found} < -tol = {-tol:.3g} "
        f"({ROUNDING_FACTOR}·eps·n·‖{name}‖₂); a kernel matrix has no negative eigenvalues"
    )


def _eigvalsh(A: torch.Tensor, name: str) -> torch.Tensor:
    try:
        return torch.linalg.eigvalsh(A)
    except torch.linalg.LinAlgError as exc:  # does not converge: not reachable for finite A in practice
        raise ValueError(f"the eigenvalues of {name} could not be computed: {exc}") from exc


def statistical_dimension(K, alpha: float) -> float:
    """``s_λ(K) = tr[(K + λI)⁻¹ K] = Σ_i λ_i / (λ_i + λ)`` (paper Eq. 4).

    Parameters
    ----------
    K : (n, n) symmetric positive semi-definite matrix (NumPy or torch)
        Checked: finite, ``max |K − Kᵀ| ≤ 100·eps·max |K|`` and smallest eigenvalue
        ``≥ −100·eps·n·‖K‖₂`` (eps of K's dtype); eigenvalues within that rounding band are
        taken as 0.
    alpha : float > 0, the ridge parameter λ

    Raises
    ------
    ValueError
        If K is not square, not finite, not symmetric or not PSD within those tolerances.
    """
    alpha = check_positive(alpha, "alpha")
    K, eps_n = check_kernel_matrix(K)
    eig = _eigvalsh(K, "K")
    tol = ROUNDING_FACTOR * eps_n * float(eig.abs().max())
    if float(eig[0]) < -tol:
        raise _not_psd("K", float(eig[0]), tol)
    eig = eig.clamp_min(0.0)
    return float((eig / (eig + alpha)).sum())


def _check_psd_by_cholesky(K: torch.Tensor, eps_n: float, name: str = "K") -> None:
    """K ≽ −tol·I with ``tol = 100·eps·n·‖K‖_F`` (‖K‖_F ≥ ‖K‖₂): one Cholesky of K + tol·I, which
    exists exactly when every eigenvalue exceeds −tol (up to the factorization's own rounding,
    ~n·eps·‖K‖₂, far inside tol). A fraction of an eigendecomposition's cost."""
    tol = ROUNDING_FACTOR * eps_n * float(torch.linalg.matrix_norm(K))
    shifted = K.clone()
    shifted.diagonal().add_(tol)
    if int(torch.linalg.cholesky_ex(shifted).info) == 0:
        return
    smallest = float(_eigvalsh(K, name)[0]) if K.shape[0] <= EIGEN_REPORT_MAX else None
    raise _not_psd(name, smallest, tol)


def spectral_error(K, Psi, alpha: float) -> float:
    """Smallest ε with ``(1−ε)(K+λI) ≼ ΨΨᵀ + λI ≼ (1+ε)(K+λI)`` (paper Eq. 2).

    ε = ‖(K+λI)^{-1/2}(ΨΨᵀ − K)(K+λI)^{-1/2}‖₂, computed as the largest |eigenvalue| of
    ``L⁻¹(ΨΨᵀ − K)L⁻ᵀ`` with ``L`` the Cholesky factor of ``K + λI`` (a matrix similar to the
    symmetric square-root form, so it has the same eigenvalues).

    Parameters
    ----------
    K : (n, n) kernel matrix
        Checked: finite, ``max |K − Kᵀ| ≤ 100·eps·max |K|``, and positive semi-definite within
        ``100·eps·n·‖K‖_F`` (one Cholesky factorization of K shifted by that tolerance).
    Psi : (n, D) random-feature matrix
    alpha : float > 0, the ridge parameter λ

    Raises
    ------
    ValueError
        If K is not square, finite, symmetric or PSD within those tolerances, if Psi is not finite
        or has another number of rows than K, or if ``K + αI`` cannot be factored (α far below the
        rounding of K).
    """
    alpha = check_positive(alpha, "alpha")
    K, eps_n = check_kernel_matrix(K)
    Psi = as_matrix(Psi, "Psi", dtype=torch.float64, device=K.device)
    if Psi.shape[0] != K.shape[0]:
        raise ValueError(f"Psi has {Psi.shape[0]} rows but K has {K.shape[0]}; they must match")
    _check_psd_by_cholesky(K, eps_n)
    try:  # no jitter: ε must measure K + αI itself
        L, _ = shifted_cholesky(K, alpha, what="K + alpha*I", jitter=False)
    except np.linalg.LinAlgError as exc:
        raise NotPositiveDefiniteError(
            f"K + alpha*I is not numerically positive definite: alpha = {alpha:.3g} is below the rounding "
            f"of K (max |K| = {float(K.abs().max()):.3g}); use a larger alpha"
        ) from exc
    A = torch.linalg.solve_triangular(L, Psi, upper=False)  # L⁻¹Ψ
    B = torch.linalg.solve_triangular(L, K, upper=False)
    B = torch.linalg.solve_triangular(L, B.T, upper=False)  # L⁻¹ K L⁻ᵀ
    E = A @ A.T - B
    eig = _eigvalsh(0.5 * (E + E.T), "L⁻¹(ΨΨᵀ − K)L⁻ᵀ")
    return float(eig.abs().max())


#: largest ε that Theorem 3.3 covers
EPSILON_MAX = 0.5


def feature_bound(epsilon: float, delta: float, s_tilde: float, s_lambda: float) -> int:
    """Number of features that Theorem 3.3 guarantees to give an ε-approximation w.p. ≥ 1 − δ.

    ``m ≥ (8/3) ε⁻² s̃ ln(16 s̃ s_λ / δ)`` where ``s̃`` is the total mass of the sampling
    envelope (``s̃ = s_λ`` for exact leverage sampling) and ``s_λ`` the statistical dimension.

    The paper states the theorem with the constant 3 (``m ≥ 3 ε⁻² s̃ ln(16 s̃ s_λ/δ)``); levrf
    uses 8/3, which is what the last step of the proof gives: the matrix Bernstein exponent
    ``(ε²/2) / ((s̃/m)(1 + ε/3))`` is at least ``3mε²/(8s̃)`` because ``1 + ε/3 ≤ 4/3`` for ε ≤ 1,
    so 8/3 already bounds the failure probability by δ (3 asks for 12.5% more features).

    Parameters
    ----------
    epsilon : float in (0, 1/2], the target spectral error ε
        The theorem's range: the paper writes ε ∈ (0, 1/2); its proof holds up to ε = 1/2
        included (the step above needs only ε ≤ 1), and levrf's own Theorem 3.3 check uses 1/2.
    delta : float in (0, 1), the allowed failure probability δ
    s_tilde : float > 0, total mass s̃ of the sampling envelope, at least ``s_lambda``
    s_lambda : float > 0, the statistical dimension s_λ

    Returns
    -------
    int
        The smallest integer m satisfying the bound, and at least 1 (when ``16 s̃ s_λ < δ``
        the logarithm is negative and the bound holds for every m).
    """
    epsilon = check_positive(epsilon, "epsilon")
    if epsilon > EPSILON_MAX:
        raise ValueError(
            f"epsilon must lie in (0, {EPSILON_MAX}], the range of ε that Theorem 3.3 covers, got {epsilon}; "
            "the bound says nothing about a larger spectral error"
        )
    delta = check_probability(delta, "delta")
    s_tilde = check_positive(s_tilde, "s_tilde")
    s_lambda = check_positive(s_lambda, "s_lambda")
    if s_tilde < s_lambda * (1 - 1e-9):
        raise ValueError(f"s_tilde ({s_tilde}) must be >= s_lambda ({s_lambda}): q̃ must dominate q_λ")
    bound = 8.0 / 3.0 / epsilon**2 * s_tilde * math.log(16.0 * s_tilde * s_lambda / delta)
    return max(1, int(math.ceil(bound)))
