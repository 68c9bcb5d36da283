"""The ``"leverage"`` sampler: sampling-importance-resampling (SIR) from a pool drawn from p.

Where the ``"auto"`` rule chooses p itself (m < 2·s_α) there is no pool: the m weights are those
of ``sampling="qmc"`` for s_α/2 ≤ m (where the kernel has an inverse CDF) and of
``sampling="gaussian"`` below. Otherwise:
draw a pool ``w_1..w_M ~ p``, score it with τ = τ_α' (exact or approximate), let
``ŝ = mean_j τ_j`` and ``r_j = (1 − β)τ_j/ŝ + β`` (β = 0 for a float ``sampling_alpha``), the
density ratio q/p of the target ``q = (1 − β)q_α'/s_α' + β·p`` estimated on the pool (mean 1).
The m weights are chosen from the pool *without replacement* with inclusion probabilities
``π_j = min(1, c·r_j)``, ``Σ π_j = m`` (systematic PPS, :mod:`levrf.leverage.resampling`), and get
the Horvitz–Thompson importance weight ``sqrt(p/q) = sqrt(m/(M·π_j))``, which is
``sqrt(1/r_j) = sqrt(ŝ/τ_j)`` (the paper's ``sqrt(s_λ/τ_λ)``) whenever no π_j is capped at 1.

Unbiasedness (exact, not only asymptotic): ``E[Σ_{j∈S} (m/(Mπ_j))·Φ_jΦ_jᵀ/m | pool] =
(1/M) Σ_j Φ_jΦ_jᵀ``, the pool's Monte Carlo estimate of K, whose expectation is K. Only the
claim that the draws *follow* q is asymptotic in M. Without replacement, no weight is repeated:
multinomial resampling (with replacement) from a pool of 16·m repeated 5–25% of its draws on
diamonds and gave a larger spectral error (``docs/leverage.md``). It remains the fallback when
fewer than m candidates have positive weight.
"""

from __future__ import annotations

import torch

from .._validation import check_positive, check_positive_int
from ..kernels import Kernel
from .approximate import SubsampleLeverage
from .auto import (
    SCORING_ROWS_PER_DIMENSION,
    auto_sampling_parameters,
    check_sampling_alpha,
    first_pilot_rows,
    pilot_rows,
    resolve_sampling_parameters,
    scoring_rows,
)
from .methods import SCORER_METHODS, check_method, leverage_function, max_exact_rows, resolve_method
from .qmc import draw_from_p
from .resampling import capped_law_distance, choose_pool_factor, inclusion_probabilities, systematic_sample
from .samplers import Sampler, SamplingConfig, WeightSample, register_sampler

#: default pool size per weight drawn (with exact scores; the largest pool otherwise)
POOL_FACTOR = 16
#: with approximate scores (large n), the default pool is the smallest of these factors·m ...
POOL_FACTORS = (4, 8, POOL_FACTOR)
#: ... whose capped law is within this total variation of the target (estimated on a probe)
MAX_CAPPED_DISTANCE = 0.02
#: the probe has max(m, PROBE_MIN) candidates, drawn and scored apart from the pool
PROBE_MIN = 256


@register_sampler
class LeverageSampler(Sampler):
    """Ridge-leverage sampling of weights by sampling-importance-resampling.

    Parameters
    ----------
    alpha : float > 0
        The regression's ridge λ.
    sampling_alpha : float > 0 or "auto"
        Sample from ``q_α'`` at this α' exactly (float), or let
        :func:`~levrf.leverage.auto.auto_sampling_parameters` choose α' and a mixture with p.
    pool_size : int, optional
        Number M of candidates from p (default ``16·m``).
    method : {"auto", "exact", "approximate", "subsample", "nystrom"}
        How τ is computed (see :func:`levrf.ridge_leverage`); ``"auto"``: exact where the n × n
        matrix fits the ``leverage_exact_bytes`` budget, else a row subsample. With
        ``sampling_alpha="auto"`` and a method that is not exact, the rule's s_α comes from a
        pilot subsample of :func:`~levrf.leverage.auto.pilot_rows` rows (cost independent of n),
        which ``"auto"`` also scores the pool with.
    rank : int, optional
        Rows used by the approximate methods.
    """

    name = "leverage"

    def __init__(
        self,
        alpha: float = 1.0,
        sampling_alpha="auto",
        pool_size: int | None = None,
        method: str = "auto",
        rank: int | None = None,
    ) -> None:
        self.alpha = check_positive(alpha, "alpha")
        self.sampling_alpha = check_sampling_alpha(sampling_alpha)
        self.pool_size = None if pool_size is None else check_positive_int(pool_size, "pool_size")
        self.method = check_method(method, SCORER_METHODS)
        self.rank = None if rank is None else check_positive_int(rank, "rank")

    @classmethod
    def from_config(cls, config: SamplingConfig) -> LeverageSampler:
        return cls(alpha=config.alpha, sampling_alpha=config.sampling_alpha, pool_size=config.pool_size,
                   method=config.method)

    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample:
        m = check_positive_int(m, "m")
        n, d = int(X.shape[0]), int(X.shape[1])
        start = generator.get_state()  # the approximate scorers draw rows from the generator
        method = resolve_method(self.method, n, in_memory=isinstance(X, torch.Tensor))
        if self.sampling_alpha == "auto" and method != "exact":
            # s_α for the rule from a pilot subsample whose cost does not depend on n: the rule
            # often samples from p, and then the leverage fit must cost what a fit from p costs
            rows = pilot_rows(n, m, max_exact_rows()) if self.rank is None else self.rank  # a given rank is the user's cost
            stages = [first_pilot_rows(n, m, max_exact_rows()), rows] if self.rank is None else [rows]
            for size in sorted(set(stages)):
                # a smaller pilot first: its s_α is biased low (s is concave in K), so where it
                # already says "m < 2·s_α" (sample from p) the full pilot is not needed; where it
                # has ≥ 8·s_α rows (auto.scoring_rows) its estimate is already as good as scoring
                # needs, and the rule resamples (s_α ≤ r/8 ≤ m/8 < m/2)
                pilot = leverage_function(kernel, X, self.alpha, "subsample", rank=size, generator=generator)
                s_alpha = pilot.statistical_dimension(self.alpha)
                params = auto_sampling_parameters(m, self.alpha, lambda a, p=pilot, s=s_alpha: s if a == self.alpha
                                                  else p.statistical_dimension(a), n)
                if params.mixture >= 1.0 or SCORING_ROWS_PER_DIMENSION * s_alpha <= size:
                    break  # p; or resampling with a pilot of ≥ 8·s_α rows, all that scoring uses
            if params.mixture >= 1.0:
                generator.set_state(start)
                return self._draw_from_p(kernel, X, m, generator, pilot, params, s_alpha, method)
            if self.method == "auto":
                # the pilot (≥ 4·s_α rows: the rule resamples only where m ≥ 2·s_α), restricted to
                # the max(256, 8·s_α) of its rows that scoring needs (auto.scoring_rows)
                scorer = pilot.restricted(scoring_rows(pilot.rank, s_alpha), generator)
            elif method in ("approximate", "subsample") and self.rank is not None:
                scorer = pilot  # the given rank is the user's cost
            else:
                scorer = leverage_function(kernel, X, params.alpha, method, rank=self.rank, generator=generator)
        else:
            first_alpha = self.alpha if self.sampling_alpha == "auto" else float(self.sampling_alpha)
            scorer = leverage_function(kernel, X, first_alpha, method, rank=self.rank, generator=generator)
            params = resolve_sampling_parameters(
                self.sampling_alpha, m, self.alpha, scorer.statistical_dimension, n
            )
            if params.alpha != scorer.alpha:
                scorer = scorer.at_alpha(params.alpha)
            if params.mixture >= 1.0:  # the auto rule chose p itself: no pool to score
                generator.set_state(start)  # same seed, same weights as sampling="qmc" or "gaussian"
                return self._draw_from_p(kernel, X, m, generator, scorer, params,
                                         scorer.statistical_dimension(self.alpha), method)
        M, probe_info = self._pool_size(kernel, d, m, scorer, params.mixture, generator)
        pool = kernel.sample(M, d, generator)
        tau = scorer(pool)
        s_hat = float(tau.mean())
        if not s_hat > 0:
            raise ValueError("every candidate weight has zero leverage; the features vanish on X")
        beta = params.mixture
        ratio = (1.0 - beta) * tau / s_hat + beta  # q/p at each candidate, mean 1 over the pool
        if int((ratio > 0).sum()) >= m:
            pi = inclusion_probabilities(ratio, m)
            idx = systematic_sample(pi, generator).to(pool.device)
            importance = (m / (M * pi[idx])).sqrt()
            resampling = "systematic PPS without replacement"
        else:
            idx = torch.multinomial(ratio.cpu(), m, replacement=True, generator=generator).to(pool.device)
            importance = ratio[idx].rsqrt()
            resampling = "multinomial with replacement"
        info = {
            "sampler": self.name,
            "method": method,
            "sampling_alpha": params.alpha,
            "mixture": beta,
            "pool_size": M,
            "sampling_statistical_dimension": s_hat,
            "resampling": resampling,
            "distinct_weights": int(torch.unique(idx).numel()),
        }
        info.update(probe_info)
        if isinstance(scorer, SubsampleLeverage):
            info["scoring_rows"] = int(scorer.rank)
        info.update(_regression_statistical_dimension(scorer, self.alpha, params.alpha, s_hat))
        return WeightSample(
            weights=pool[idx],
            importance=importance.to(pool.dtype),
            leverage=tau[idx].to(pool.dtype),
            info=info,
        )


    def _pool_size(self, kernel, d, m, scorer, beta, generator) -> tuple[int, dict]:
        """M: ``pool_size`` if given; 16·m with exact scores; else the smallest of
        :data:`POOL_FACTORS`·m whose capped law is within :data:`MAX_CAPPED_DISTANCE` of the
        target, judged on an independent probe of candidates (so the pool stays i.i.d. p)."""
        if self.pool_size is not None:
            return self.pool_size, {}
        if scorer.exact:
            return POOL_FACTOR * m, {}
        probe = kernel.sample(max(m, PROBE_MIN), d, generator)
        tau = scorer(probe)
        s_hat = float(tau.mean())
        if not s_hat > 0:
            return POOL_FACTOR * m, {}
        ratio = (1.0 - beta) * tau / s_hat + beta
        factor = choose_pool_factor(ratio, POOL_FACTORS, MAX_CAPPED_DISTANCE)
        return factor * m, {"pool_factor": factor, "probe_size": int(probe.shape[0]),
                            "probe_capped_distance": capped_law_distance(ratio, factor)}

    def _draw_from_p(self, kernel, X, m, generator, scorer, params, s_alpha, method) -> WeightSample:
        W, how = draw_from_p(kernel, m, int(X.shape[1]), generator, params.p_sequence)
        info = {
            "sampler": self.name,
            "method": method,
            "sampling_alpha": params.alpha,
            "mixture": 1.0,
            "pool_size": 0,
            "resampling": f"none: m < 2·s_α, so the auto rule samples from p ({how})",
            "p_sequence": how,
            "distinct_weights": m,
            "statistical_dimension": s_alpha,
        }
        if scorer.exact:
            info["statistical_dimension_source"] = "n − α‖L⁻¹‖_F² (exact)"
            leverage = scorer(W).to(W.dtype)
        else:  # the pilot's estimate; the weights from p are not scored (that would cost r²·m·d2)
            info["statistical_dimension_source"] = "approximate spectrum"
            info["statistical_dimension_rows"] = int(scorer.rank)
            leverage = None
        return WeightSample(W, torch.ones(m, dtype=W.dtype, device=W.device), leverage, info)


def _regression_statistical_dimension(scorer, alpha: float, sampling_alpha: float, s_hat: float) -> dict:
    """s at the regression α: the pool mean when α' = α (free, unbiased), else from the spectrum."""
    if sampling_alpha == alpha and not scorer.spectrum_computed:
        return {"statistical_dimension": s_hat, "statistical_dimension_source": "pool mean of tau"}
    source = "eigenvalues of K" if scorer.exact else "approximate spectrum"
    return {"statistical_dimension": scorer.statistical_dimension(alpha), "statistical_dimension_source": source}
