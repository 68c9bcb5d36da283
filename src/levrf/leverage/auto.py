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

#: the rule samples by leverage only when m ≥ SWITCH_RATIO · s_α (else it samples from p)
SWITCH_RATIO = 2.0
#: defensive mixture weight with p when it samples by leverage (importance weights ≤ 1/β = 2)
DEFAULT_MIXTURE = 0.5
#: below the switch, the p draws are quasi-Monte Carlo only from m ≥ QMC_MIN_RATIO · s_α (else i.i.d.)
QMC_MIN_RATIO = 0.5
#: fraction of the budget m that :func:`budget_matched_alpha` aims for, when asked
BUDGET_FRACTION = 0.5
#: the pilot row subsample that estimates s_α for the rule when leverage is not exact has at least
#: PILOT_MIN_ROWS rows, and PILOT_ROWS_PER_WEIGHT·m: its estimate cannot exceed its number of rows,
#: so it must have room above the switch m/2 (SWITCH_RATIO) to tell "s_α ≥ m/2" apart
PILOT_MIN_ROWS = 512
PILOT_ROWS_PER_WEIGHT = 2
#: where the rule resamples, ``leverage_method="auto"`` scores the pool on
#: max(SCORING_MIN_ROWS, SCORING_ROWS_PER_DIMENSION·s_α) of the pilot's rows (all of them if fewer)
SCORING_ROWS_PER_DIMENSION = 8
SCORING_MIN_ROWS = 256


@dataclass(frozen=True)
class SamplingParameters:
    """What a leverage sampler samples from: ``(1 − mixture)·q_alpha + mixture·p``.

    ``p_sequence`` says how the draws from p alone (``mixture = 1``) are made: ``"iid"`` or
    ``"qmc"`` (randomized quasi-Monte Carlo, :mod:`levrf.leverage.qmc`).
    """

    alpha: float
    mixture: float = 0.0
    p_sequence: str = "iid"


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
    """The ``"auto"`` rule: leverage only where it was measured to help the predictor.

    * ``m < 2·s_α``: sample from p (``mixture = 1``; the sampler then skips the pool). From
      ``m ≥ s_α/2`` on, the m weights are drawn by randomized quasi-Monte Carlo where the kernel
      allows it (``p_sequence="qmc"``: the weights of ``sampling="qmc"``); below s_α/2 i.i.d.
      (the weights of ``sampling="gaussian"``): on a rough problem (diamonds σ = 0.5, α = 0.01,
      s_α = 2,222) QMC was 1.02–1.25× farther from exact KRR than i.i.d. at m = 64…1,024 and
      closer only from m ≈ s_α/2 on (``benchmarks/qmc_rule.py``, ``benchmarks/krr.py``). With
      fewer weights than about twice the statistical dimension, no leverage variant we measured
      (sampling at α, at a budget-matched α' with ``s_α' = c·m`` for c ∈ {¼, ½, 1}, defensive
      mixtures β ∈ {0, ¼, ½}, with and without replacement) gave a better ridge predictor than
      sampling from p on both diamonds and flights; several were up to 2× worse.
    * ``m ≥ 2·s_α``: sample from ``0.5·q_α + 0.5·p`` at the regression's own α. Here the
      spectral advantage of leverage turns into a better predictor, and the mixture bounds the
      importance weights by 2. In ``benchmarks/auto_rule.py`` (three Gaussian-kernel problems,
      10 seeds, m/s_α from 2 to 12) β = ½ gave a smaller mean distance to exact KRR than p in
      every cell (ratios 0.62–0.95), where β = ¼ lost in three (up to 1.09) and β = ¾ in one.

    The measurements are in ``docs/leverage.md`` ("sampling_alpha='auto'") and
    ``benchmarks/results/auto_rule.md``.

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
    s = statistical_dimension(alpha)
    if m < SWITCH_RATIO * s:
        return SamplingParameters(alpha=alpha, mixture=1.0, p_sequence="qmc" if m >= QMC_MIN_RATIO * s else "iid")
    return SamplingParameters(alpha=alpha, mixture=DEFAULT_MIXTURE)


def pilot_rows(n_samples: int, m: int, max_rows: int | None = None) -> int:
    """Rows of the subsample whose spectrum gives the rule's s_α when leverage is not exact.

    ``min(n, max_rows, max(PILOT_MIN_ROWS, PILOT_ROWS_PER_WEIGHT·m))``: its cost (one Cholesky
    of r rows, O(r³)) does not depend on n, so where the rule then samples from p, a leverage
    fit costs about what a fit from p costs. The pilot is a uniform row subsample at the
    rescaled ridge ``α·r/n`` (:class:`levrf.leverage.approximate.SubsampleLeverage`);
    ``max_rows`` (the samplers pass the rows that fit the ``leverage_exact_bytes`` budget) caps
    its r × r matrix.

    Examples
    --------
    >>> pilot_rows(100, 64), pilot_rows(10**6, 64), pilot_rows(10**6, 1024), pilot_rows(10**6, 1024, 300)
    (100, 512, 2048, 300)
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    m = check_positive_int(m, "m")
    cap = n_samples if max_rows is None else min(n_samples, check_positive_int(max_rows, "max_rows"))
    return min(cap, max(PILOT_MIN_ROWS, PILOT_ROWS_PER_WEIGHT * m))


def first_pilot_rows(n_samples: int, m: int, max_rows: int | None = None) -> int:
    """Rows of the first, smaller pilot: ``min(pilot_rows(n, m, max_rows), max(PILOT_MIN_ROWS, m))``.

    Its s_α estimate can exceed m/2, so it can tell that the rule samples from p (m < 2·s_α), and
    being an estimate from fewer rows it is biased lower than the full pilot's (the statistical
    dimension is concave in K, and the subsample estimates K without bias): where it says "p", the
    full pilot's r = 2m rows (8× its O(r³) cost) would say so as well, on average. Where it has at
    least ``SCORING_ROWS_PER_DIMENSION·ŝ_α`` rows, ŝ_α ≤ m/8 is far below the switch m/2 and
    scoring would use no more rows than it has (:func:`scoring_rows`): the rule resamples with
    this pilot. In between, the sampler builds the full pilot.

    Examples
    --------
    >>> first_pilot_rows(10**6, 64), first_pilot_rows(10**6, 1024), first_pilot_rows(700, 1024)
    (512, 1024, 700)
    """
    return min(pilot_rows(n_samples, m, max_rows), max(PILOT_MIN_ROWS, check_positive_int(m, "m")))


def scoring_rows(pilot: int, statistical_dimension: float) -> int:
    """Rows of the pilot on which ``leverage_method="auto"`` scores the pool where the rule resamples.

    ``min(r, max(SCORING_MIN_ROWS, ⌈SCORING_ROWS_PER_DIMENSION·s_α⌉))`` (256 and 8·s_α). The pilot needs r ≥ 2m
    rows to *decide* (its s_α estimate must be able to exceed m/2), but the rule resamples only
    where s_α ≤ m/2, and a row subsample estimates τ well from a few times s_α rows
    (``docs/leverage.md``, section 5: 250 rows kept the whole ε gain at s_α ≈ 30–60). Scoring costs
    r²·M·d2, so 8·s_α rows instead of 2m cut it by (m/(4·s_α))².

    Examples
    --------
    >>> scoring_rows(2048, 9.4), scoring_rows(2048, 200.0), scoring_rows(200, 9.4)
    (256, 1600, 200)
    """
    pilot = check_positive_int(pilot, "pilot")
    if not statistical_dimension >= 0:
        raise ValueError(f"statistical_dimension must be >= 0, got {statistical_dimension!r}")
    return min(pilot, max(SCORING_MIN_ROWS, math.ceil(SCORING_ROWS_PER_DIMENSION * statistical_dimension)))


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
