"""The ``sampling_alpha="auto"`` rule: at which α' to sample, and how much of p to mix in.

Sampling exactly from ``q_α`` at the regression's own α is the paper's sampler and minimises the
spectral error, but when the number of weights m is below the statistical dimension ``s_α`` the
heavy importance weights ``s_α/τ`` make a worse ridge predictor (issue 3). The rule returns

* ``alpha``: the ridge α' ≥ α at which leverage is computed, and
* ``mixture``: β ∈ [0, 1], sampling from ``q = (1 − β)·q_α'/s_α' + β·p`` whose importance
  weight ``p/q = 1/((1 − β)τ_α'/s_α' + β)`` is bounded by ``1/β``.

:func:`auto_sampling_parameters` is the one place that decides; the samplers only call it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .._validation import check_positive, check_positive_int

#: fraction of the budget m that the budget-matched α' aims for: s_α' = BUDGET_FRACTION · m
BUDGET_FRACTION = 0.5
#: defensive mixture weight of the placeholder rule
DEFAULT_MIXTURE = 0.25


@dataclass(frozen=True)
class SamplingParameters:
    """What a leverage sampler samples from: ``(1 − mixture)·q_alpha + mixture·p``."""

    alpha: float
    mixture: float = 0.0


def budget_matched_alpha(
    target: float, alpha: float, statistical_dimension: Callable[[float], float]
) -> float:
    """Smallest α' ≥ α with ``s_α' ≤ target`` (bisection on log α'; s is decreasing in α)."""
    if statistical_dimension(alpha) <= target:
        return alpha
    lo, hi = math.log(alpha), math.log(alpha) + 2.0
    while statistical_dimension(math.exp(hi)) > target:
        lo, hi = hi, hi + 2.0
        if hi - math.log(alpha) > 200:  # s never falls to target (e.g. target < 1 for a big K)
            return math.exp(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if statistical_dimension(math.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return math.exp(hi)


def auto_sampling_parameters(
    m: int, alpha: float, statistical_dimension: Callable[[float], float], n_samples: int
) -> SamplingParameters:
    """The ``"auto"`` rule (placeholder until the measured rule lands).

    Budget-matched ridge: α' is the smallest α' ≥ α with ``s_α' ≤ m/2``, so that the m weights
    can cover the directions that matter at α'; then a defensive mixture β = 0.25 with p.

    Parameters
    ----------
    m : number of weights to draw
    alpha : the regression's ridge λ
    statistical_dimension : callable α ↦ s_α (exact or estimated spectrum of K)
    n_samples : number of training rows n
    """
    m = check_positive_int(m, "m")
    alpha = check_positive(alpha, "alpha")
    check_positive_int(n_samples, "n_samples")
    alpha_prime = budget_matched_alpha(BUDGET_FRACTION * m, alpha, statistical_dimension)
    return SamplingParameters(alpha=alpha_prime, mixture=DEFAULT_MIXTURE)


def check_sampling_alpha(sampling_alpha) -> float | str:
    """``"auto"`` or a positive float."""
    if isinstance(sampling_alpha, str):
        if sampling_alpha != "auto":
            raise ValueError(f"sampling_alpha must be 'auto' or a float > 0, got {sampling_alpha!r}")
        return sampling_alpha
    return check_positive(sampling_alpha, "sampling_alpha")


def resolve_sampling_parameters(
    sampling_alpha, m: int, alpha: float, statistical_dimension: Callable[[float], float], n_samples: int
) -> SamplingParameters:
    """A float means exact leverage at that α (no mixture); ``"auto"`` applies the rule."""
    sampling_alpha = check_sampling_alpha(sampling_alpha)
    if sampling_alpha == "auto":
        return auto_sampling_parameters(m, alpha, statistical_dimension, n_samples)
    return SamplingParameters(alpha=float(sampling_alpha), mixture=0.0)
