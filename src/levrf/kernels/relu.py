"""Kernels of ReLU units: arc-cosine kernels and the neural tangent kernels.

All features use ``p = N(0, I)`` weights. θ denotes the angle between x and z.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_positive_int
from .base import Kernel, angles, standard_normal
from .proposals import Chi3Proposal, HalfspaceProposal


class _GaussianWeightKernel(Kernel):
    """Kernels whose weights are standard normal vectors."""

    p_is_standard_normal = True

    def _sample(self, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
        return standard_normal((m, d), gen)

    def uniform_dim(self, d: int) -> int:
        return d

    def _from_uniform(self, U: torch.Tensor, d: int) -> torch.Tensor:
        return torch.special.ndtri(U)


class ArcCosineKernel(_GaussianWeightKernel):
    """Arc-cosine kernel of order 0 or 1 (Cho & Saul 2009, without their factor 2).

    order 0: ``φ(x, w) = 1[wᵀx ≥ 0]``,     ``K = (π − θ) / 2π``
    order 1: ``φ(x, w) = max(wᵀx, 0)``,    ``K = ‖x‖‖z‖ (sin θ + (π − θ) cos θ) / 2π``
    """

    def __init__(self, order: int = 1, *, dtype: str = "float64", device: str = "cpu") -> None:
        if isinstance(order, bool) or order not in (0, 1):
            raise ValueError(f"order must be 0 or 1, got {order!r}")
        super().__init__(dtype=dtype, device=device)
        self.order = int(order)

    def _param_names(self) -> tuple[str, ...]:
        return ("order", *super()._param_names())

    def feature_dim(self, d: int) -> int:
        return 1

    def diag(self, X) -> torch.Tensor:
        X = self._matrix(X, "X")
        if self.order == 0:  # 1/2, and 1 for a zero row (φ(0, w) = 1)
            return torch.where((X == 0).all(1), 1.0, 0.5).to(X.dtype)
        return (X * X).sum(1) / 2.0

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        norms, cos, theta = angles(X, Z)
        if self.order == 0:
            # φ(0, w) = 1 for every w, so K(0, 0) = 1 while K(0, z) = 1/2 for z ≠ 0
            both_zero = ((X == 0).all(1)[:, None] & (Z == 0).all(1)[None, :]).to(X.dtype)
            return (math.pi - theta) / (2 * math.pi) * (1.0 + both_zero)
        return norms * (torch.sin(theta) + (math.pi - theta) * cos) / (2 * math.pi)

    def _features(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        proj = X @ W.T
        if self.order == 0:
            return (proj >= 0).to(X.dtype).unsqueeze(-1)
        return proj.clamp_min(0.0).unsqueeze(-1)

    def feature_norm_proposal(self, X: torch.Tensor):
        """order 0: ``‖φ(x_i, w)‖² = 1[x_iᵀw ≥ 0]``; order 1: ``relu(x_iᵀw)²`` (see
        :mod:`levrf.kernels.proposals`)."""
        if self.order == 1:
            return Chi3Proposal(self, X)
        sq = (X * X).sum(1)
        # a zero row has φ = 1[0 ≥ 0] = 1 for every w (mass 1, not 1/2)
        mass = torch.where(sq > 0, torch.full_like(sq, 0.5), torch.ones_like(sq))
        return HalfspaceProposal(self, X, torch.ones_like(sq), mass)


class ReLUNTK(_GaussianWeightKernel):
    """NTK of a two-layer ReLU network whose first layer is trained: the paper's ``H^cts``.

    ``φ(x, w) = x · 1[wᵀx ≥ 0]`` (d2 = d) and ``K(x, z) = xᵀz (π − θ) / 2π``.
    """

    gated_features = True

    def feature_dim(self, d: int) -> int:
        return d

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        _, _, theta = angles(X, Z)
        return (X @ Z.T) * (math.pi - theta) / (2 * math.pi)

    def diag(self, X) -> torch.Tensor:
        X = self._matrix(X, "X")
        return (X * X).sum(1) / 2.0

    def activations(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """The indicator matrix ``S = 1[X Wᵀ ≥ 0]`` (n, m): φ(x_i, w_r) = S_ir x_i."""
        return (X @ W.T >= 0).to(X.dtype)

    def feature_gates(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return self.activations(X, W)

    def _features(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return self.activations(X, W).unsqueeze(-1) * X.unsqueeze(1)

    def feature_norm_proposal(self, X: torch.Tensor):
        """``‖φ(x_i, w)‖² = ‖x_i‖² 1[x_iᵀw ≥ 0]`` (see :mod:`levrf.kernels.proposals`)."""
        sq = (X * X).sum(1)
        return HalfspaceProposal(self, X, sq.sqrt() ** 2, sq / 2.0)  # a zero row adds nothing


class DeepReLUNTK(Kernel):
    """NTK of a ReLU MLP with ``depth`` hidden layers, all layers trained (Arora et al. 2019).

    Parametrization (the "NTK parametrization", all weights i.i.d. N(0, 1), no biases)::

        g⁰ = x,   f^h = W^h g^{h−1}   (W¹ ∈ R^{m×d}, W^h ∈ R^{m×m}),
        g^h = sqrt(2/m) · relu(f^h)   for h = 1..L,     f(x) = W^{L+1} g^L  (W^{L+1} ∈ R^{1×m}).

    As m → ∞ the tangent kernel ``<∂f(x)/∂θ, ∂f(z)/∂θ>`` tends to::

        Σ⁰(x, z) = xᵀz
        Σ^h(x, z) = sqrt(Σ^{h−1}_xx Σ^{h−1}_zz) · (sin θ_h + (π − θ_h) cos θ_h) / π
        Σ̇^h(x, z) = (π − θ_h) / π,       cos θ_h = Σ^{h−1}_xz / sqrt(Σ^{h−1}_xx Σ^{h−1}_zz)
        Θ(x, z) = Σ_{h=1}^{L+1} Σ^{h−1}(x, z) · Π_{h'=h}^{L} Σ̇^{h'}(x, z)

    Note ``Σ^h_xx = ‖x‖²`` for every h. With depth 1 the first-layer term ``xᵀz (π − θ)/π`` is
    twice ``ReLUNTK`` (the factor 2 of the ReLU normalisation ``sqrt(2/m)``); the second term
    is the output layer's. Known only in closed form: ``has_features = False``.
    ``tests/test_deep_relu_ntk.py`` checks Θ against the empirical NTK of width-4096 networks
    of exactly this parametrization (depths 1–3).
    """

    has_features = False

    def __init__(self, depth: int = 2, *, dtype: str = "float64", device: str = "cpu") -> None:
        super().__init__(dtype=dtype, device=device)
        self.depth = check_positive_int(depth, "depth")

    def _param_names(self) -> tuple[str, ...]:
        return ("depth", *super()._param_names())

    def diag(self, X) -> torch.Tensor:
        X = self._matrix(X, "X")
        return (self.depth + 1) * (X * X).sum(1)  # one ‖x‖² per layer: θ = 0 makes every Σ̇ = 1

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        norms, _, theta = angles(X, Z)  # θ_1; Σ^{h}_xx = ‖x‖² for every h, so norms never change
        ntk = X @ Z.T  # Σ⁰; below, the running Θ of the network cut after layer h
        for _ in range(self.depth):
            sin, cos = torch.sin(theta), torch.cos(theta)
            sigma_dot = (math.pi - theta) / math.pi
            sigma = norms * (sin + (math.pi - theta) * cos) / math.pi
            ntk = ntk * sigma_dot + sigma
            theta = _next_angle(theta, sin, cos)
        return ntk


def _next_angle(theta: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """θ_{h+1} from θ_h, where cos θ_{h+1} = (sin θ_h + (π − θ_h) cos θ_h) / π.

    Written as ``1 − cos θ_{h+1} = [2π sin²(θ/2) − (sin θ − θ cos θ)] / π`` and the half-angle
    formula, so that small angles (nearly equal inputs) keep their digits instead of passing
    through arccos near 1.
    """
    one_minus_cos = (2.0 * math.pi * torch.sin(theta / 2) ** 2 - (sin - theta * cos)) / math.pi
    return 2.0 * torch.asin(torch.sqrt((one_minus_cos / 2).clamp(0.0, 1.0)))
