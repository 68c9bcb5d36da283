"""Choosing m of M pool candidates with probability proportional to size, without replacement.

Systematic PPS sampling: candidate j is included with probability ``π_j = min(1, c·w_j)`` (c such
that ``Σ π_j = m``; candidates that would exceed 1 are included with certainty and the rest
rescaled), never twice, and exactly m candidates are returned. The Horvitz–Thompson identity
``E[Σ_{j∈S} f_j/π_j] = Σ_j f_j`` holds because only the marginal inclusion probabilities matter.

Compared with m multinomial draws (with replacement) from the same weights, no candidate is
repeated, so the m features are m distinct directions: with heavy-tailed leverage scores
multinomial resampling from a pool of 16·m repeats 5–25% of its draws (measured on diamonds).
"""

from __future__ import annotations

import torch


def inclusion_probabilities(weights: torch.Tensor, m: int) -> torch.Tensor:
    """``π_j = min(1, c·w_j)`` with ``Σ_j π_j = m``: the PPS inclusion probabilities.

    Requires at least m candidates with positive weight.
    """
    w = weights.to(torch.float64)
    if int((w > 0).sum()) < m:
        raise ValueError(f"need at least m={m} candidates with positive weight, got {int((w > 0).sum())}")
    certain = torch.zeros_like(w, dtype=torch.bool)
    pi = m * w / w.sum()
    while True:
        new = (pi >= 1.0) & ~certain
        if not bool(new.any()):
            return pi.clamp(max=1.0)
        certain |= new
        rest = m - int(certain.sum())
        pi = torch.where(certain, torch.ones_like(w), rest * w / w[~certain].sum())


def systematic_sample(pi: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Indices of a systematic sample with inclusion probabilities ``pi`` (Σ pi = m, each ≤ 1).

    The candidates are put in random order and a grid ``u, u+1, …, u+m−1`` (one uniform u) is laid
    over the cumulative sums; j is picked when a grid point falls in its interval of length π_j.
    """
    pi = pi.cpu()
    m = int(round(float(pi.sum())))
    perm = torch.randperm(pi.numel(), generator=generator)
    cum = torch.cumsum(pi[perm], 0)
    cum = cum * (m / cum[-1])  # remove rounding drift so that the grid ends inside the last interval
    u = torch.rand(1, generator=generator, dtype=torch.float64)
    points = u + torch.arange(m, dtype=torch.float64)
    idx = torch.searchsorted(cum, points, right=True).clamp(max=pi.numel() - 1)
    return perm[idx]


def capped_law_distance(ratio: torch.Tensor, pool_factor: float) -> float:
    """Total variation between the capped law ``p·min(1, c·r)`` of a pool of ``pool_factor·m``
    candidates and the target ``p·r``, estimated on the candidates ``ratio`` (r_j ≥ 0, i.i.d. p).

    ``c`` solves ``mean_j min(1, c·r_j) = 1/pool_factor`` (the population form of ``Σ π_j = m``);
    the distance is ``½ Σ_j |π_j/Σπ − r_j/Σr|``, 0 when no candidate is capped.
    """
    r = ratio.to(torch.float64)
    pi = inclusion_probabilities(r, r.numel() / float(pool_factor))
    return 0.5 * float((pi / pi.sum() - r / r.sum()).abs().sum())


def choose_pool_factor(ratio: torch.Tensor, factors: tuple[int, ...], max_distance: float) -> int:
    """The smallest of ``factors`` whose capped law is within ``max_distance`` (total variation)
    of the target on the probe ``ratio`` (:func:`capped_law_distance`), else the largest."""
    for factor in sorted(factors):
        if capped_law_distance(ratio, factor) <= max_distance:
            return int(factor)
    return int(max(factors))
