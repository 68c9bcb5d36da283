"""Spectral diagnostics: statistical dimension (Eq. 4), spectral error (Eq. 2), Theorem 3.3's bound."""

from __future__ import annotations

import math

import torch

from .._validation import as_matrix, check_positive, check_probability


def _square(K, name: str = "K") -> torch.Tensor:
    K = as_matrix(K, name, dtype=torch.float64)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(K.shape)}")
    return K


def statistical_dimension(K, alpha: float) -> float:
    """``s_λ(K) = tr[(K + λI)⁻¹ K] = Σ_i λ_i / (λ_i + λ)`` (paper Eq. 4).

    Parameters
    ----------
    K : (n, n) symmetric positive semi-definite matrix (NumPy or torch)
    alpha : float > 0, the ridge parameter λ
    """
    alpha = check_positive(alpha, "alpha")
    K = _square(K)
    eig = torch.linalg.eigvalsh(0.5 * (K + K.T)).clamp_min(0.0)
    return float((eig / (eig + alpha)).sum())


def spectral_error(K, Psi, alpha: float) -> float:
    """Smallest ε with ``(1−ε)(K+λI) ≼ ΨΨᵀ + λI ≼ (1+ε)(K+λI)`` (paper Eq. 2).

    ε = ‖(K+λI)^{-1/2}(ΨΨᵀ − K)(K+λI)^{-1/2}‖₂, computed as the largest |eigenvalue| of
    ``L⁻¹(ΨΨᵀ − K)L⁻ᵀ`` with ``L`` the Cholesky factor of ``K + λI`` (a matrix similar to the
    symmetric square-root form, so it has the same eigenvalues).

    Parameters
    ----------
    K : (n, n) kernel matrix
    Psi : (n, D) random-feature matrix
    alpha : float > 0, the ridge parameter λ
    """
    alpha = check_positive(alpha, "alpha")
    K = _square(K)
    Psi = as_matrix(Psi, "Psi", dtype=torch.float64, device=K.device)
    if Psi.shape[0] != K.shape[0]:
        raise ValueError(f"Psi has {Psi.shape[0]} rows but K has {K.shape[0]}; they must match")
    n = K.shape[0]
    eye = torch.eye(n, dtype=K.dtype, device=K.device)
    K = 0.5 * (K + K.T)  # the same symmetric K in the factor and in the difference ΨΨᵀ − K
    L = torch.linalg.cholesky(K + alpha * eye)
    A = torch.linalg.solve_triangular(L, Psi, upper=False)  # L⁻¹Ψ
    B = torch.linalg.solve_triangular(L, K, upper=False)
    B = torch.linalg.solve_triangular(L, B.T, upper=False)  # L⁻¹ K L⁻ᵀ
    E = A @ A.T - B
    eig = torch.linalg.eigvalsh(0.5 * (E + E.T))
    return float(eig.abs().max())


def feature_bound(epsilon: float, delta: float, s_tilde: float, s_lambda: float) -> int:
    """Number of features that Theorem 3.3 guarantees to give an ε-approximation w.p. ≥ 1 − δ.

    ``m ≥ (8/3) ε⁻² s̃ ln(16 s̃ s_λ / δ)`` where ``s̃`` is the total mass of the sampling
    envelope (``s̃ = s_λ`` for exact leverage sampling) and ``s_λ`` the statistical dimension.

    Parameters
    ----------
    epsilon : float > 0, the target spectral error ε
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
    delta = check_probability(delta, "delta")
    s_tilde = check_positive(s_tilde, "s_tilde")
    s_lambda = check_positive(s_lambda, "s_lambda")
    if s_tilde < s_lambda * (1 - 1e-9):
        raise ValueError(f"s_tilde ({s_tilde}) must be >= s_lambda ({s_lambda}): q̃ must dominate q_λ")
    bound = 8.0 / 3.0 / epsilon**2 * s_tilde * math.log(16.0 * s_tilde * s_lambda / delta)
    return max(1, int(math.ceil(bound)))
