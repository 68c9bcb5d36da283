"""The direct solve of factored features without forming Ψ: ``ΨᵀΨ = Nᵀ(BᵀB)N`` for ``Ψ = B·N``.

Nyström features are ``Ψ = K(X, C)·N`` (``B = K(X, C)``, n × M; N the M × r normalization;
:meth:`levrf.features.FeatureMap.feature_factor`). Forming Ψ chunk by chunk costs a GEMM of
2·n·M·r flops before the n·r² of the Gram; accumulating ``BᵀB`` (n·M² flops, one ``syrk``) and
transforming once (``Nᵀ(BᵀB)N``, O(M²·r), independent of n) costs a third of that when r = M.

The price is accuracy: the rounding of ``BᵀB`` (about eps·‖BᵀB‖) is amplified by ``‖N‖² =
1/s_min`` of the kept centers' kernel matrix, whereas forming Ψ first only amplifies the rounding
of ``B``'s rows. So the factored Gram is used only where an estimate of that error is small
against α (:func:`factored_gram_is_accurate`), and the solution is then always checked by an exact residual
pass (iterative refinement, :func:`levrf.ridge.random_features.refine_ridge_solution`, whose
products ``Ψᵀ(Ψβ) = Nᵀ(Bᵀ(B(Nβ))))`` never form Ψ either). Where the check fails the Gram is
recomputed from Ψ.
"""

from __future__ import annotations

import torch

from ..rows import Rows
from .blocks import normal_equations_block
from .solvers import symmetric_from_lower

#: the factored Gram is used when its predicted error is at most this fraction of α: then one
#: refinement pass contracts the error of the solution by at least this factor
FACTORED_ERROR_FRACTION = 0.25
#: fewest rows for the factored Gram. Below it the fit that forms Ψ takes seconds and is backward
#: stable (its predictions agree across thread counts to a few eps), whereas the refined factored
#: solution is only as close as the refinement tolerance; above it the factored Gram saves time
#: (n = 200,000, M = 2,048: 34 s instead of 52 s in a development run)
FACTORED_MIN_ROWS = 100_000
#: rows of the pilot that estimates ‖BᵀB‖₂ (p·M² flops: 4·10⁹ at M = 2,048)
PILOT_ROWS = 1024
#: power iterations of the two norm estimates
POWER_ITERATIONS = 20

F64 = torch.float64


class BaseFeatures:
    """A feature map seen through its base ``B`` (``Ψ = B·N``): what
    :func:`levrf.ridge.blocks.normal_equations_block` needs of a map (``n_output_features_``,
    ``iter_chunks``), with ``B``'s chunks for Ψ's."""

    def __init__(self, features) -> None:
        self.features = features
        self.n_output_features_ = int(features.base_width())

    def iter_chunks(self, X: torch.Tensor, *, reuse: bool = False):
        return self.features.iter_base_chunks(X, reuse=reuse)


def factored_gram_is_accurate(features, rows: Rows, alpha: float, gram_dtype: torch.dtype) -> bool:
    """Whether ``Nᵀ(BᵀB)N`` accumulated in ``gram_dtype`` is accurate enough for a ridge ``alpha``.

    Its error is about ``eps·‖BᵀB‖₂·‖N‖₂²`` (in a development run on four data sets, with both
    norms exact, the measured ``‖ΔG‖₂`` was 5–27× below that estimate; not yet a benchmark), and
    must be at most
    :data:`FACTORED_ERROR_FRACTION`·α. ``‖BᵀB‖₂`` is estimated as (n/p)·‖B_SᵀB_S‖₂ on
    p = :data:`PILOT_ROWS` evenly spaced rows, both norms by power iteration. False for maps that
    are not factored, for rows not in memory and below :data:`FACTORED_MIN_ROWS` rows.
    """
    N = features.feature_factor()
    if N is None or alpha <= 0.0 or not rows.in_memory or rows.n_rows < FACTORED_MIN_ROWS:
        return False
    n = rows.n_rows
    pilot = rows.X[:: max(1, n // PILOT_ROWS)][:PILOT_ROWS]
    B = features.base_features(pilot).to(F64)
    base_norm = n / pilot.shape[0] * top_eigenvalue(lambda v: B.T @ (B @ v), B.shape[1], B.device)
    N = N.to(F64)
    factor_norm = top_eigenvalue(lambda v: N.T @ (N @ v), N.shape[1], N.device)
    return torch.finfo(gram_dtype).eps * base_norm * factor_norm <= FACTORED_ERROR_FRACTION * alpha


def top_eigenvalue(apply, dim: int, device, iterations: int = POWER_ITERATIONS) -> float:
    """The largest eigenvalue of a symmetric positive semi-definite operator ``v ↦ apply(v)`` by
    power iteration from a seeded start (an estimate from below)."""
    gen = torch.Generator().manual_seed(0)
    v = torch.rand(dim, 1, generator=gen, dtype=F64).to(device)
    v /= torch.linalg.norm(v)
    estimate = 0.0
    for _ in range(iterations):
        w = apply(v)
        estimate = float((v * w).sum())
        norm = float(torch.linalg.norm(w))
        if not norm > 0.0:
            return estimate
        v = w / norm
    return estimate


def factored_normal_equations(rows: Rows, features, gram_dtype: torch.dtype) -> dict:
    """The sums of :func:`levrf.ridge.blocks.normal_equations_block` for Ψ (``"gram"`` full and
    symmetric, ``"xty"``, ``"psi_sum"``, ``"y_sum"``, ``"count"``), from one pass accumulating
    ``BᵀB``, ``BᵀY`` and ``Σb_i``, transformed by N at the end (float64)."""
    sums = rows.sum(normal_equations_block, BaseFeatures(features), (), gram_dtype)
    N = features.feature_factor().to(dtype=F64, device=sums["xty"].device)
    GB = symmetric_from_lower(sums["gram"].to(F64))
    out = dict(sums)
    out["gram"] = N.T @ (GB @ N)
    out["xty"] = N.T @ sums["xty"].to(F64)
    out["psi_sum"] = N.T @ sums["psi_sum"].to(F64)
    return out
