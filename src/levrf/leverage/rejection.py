"""The ``"rejection"`` sampler: exact draws from the leverage distribution ``q_α/s_α``.

Envelope (provably valid). For every weight,
``τ_α(w) = tr[Φ(w)ᵀ(K + αI)⁻¹Φ(w)] ≤ ‖Φ(w)‖_F² / (λ_min(K) + α)``, so the target density
``p(w)τ_α(w)/s_α`` is dominated by ``p(w)‖Φ(w)‖_F²/(λ_min + α)``. Normalised, that envelope is
the *feature-norm proposal* ``q₀(w) = p(w)‖Φ(w)‖_F² / tr K`` (because ``E_p‖Φ(w)‖_F² = tr K``),
and a proposal ``w ~ q₀`` is accepted with probability ``τ_α(w)(λ_min + α)/‖Φ(w)‖_F²`` ≤ 1. The
acceptance rate is ``s_α (λ_min + α) / tr K``. ``q₀`` is sampled exactly by the kernel's
capability :meth:`levrf.Kernel.feature_norm_proposal` (see :mod:`levrf.kernels.proposals`: the
cos/sin kernels, the ReLU NTK and the arc-cosine kernels have one; a user kernel may add one).

Accepted weights follow ``q_α/s_α`` exactly; importance weights ``sqrt(s_α/τ_α(w))`` use the exact
``s_α = Σ λ_i/(λ_i + α)`` (eigenvalues of K). With a mixture β, a Binomial(m, β) number of the
weights come from p instead and all get ``1/sqrt((1 − β)τ/s_α + β)``.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_positive, check_positive_int
from ..kernels import Kernel
from ..kernels.proposals import FeatureNormProposal
from .auto import check_sampling_alpha, resolve_sampling_parameters
from .methods import check_exact_fits
from .qmc import draw_from_p
from .samplers import Sampler, SamplingConfig, WeightSample, register_sampler
from .scores import ExactLeverage

#: refuse to start when the expected number of proposals exceeds this
DEFAULT_MAX_PROPOSALS = 2_000_000


def feature_norm_proposal(kernel: Kernel, X: torch.Tensor) -> FeatureNormProposal:
    """The kernel's feature-norm proposal for the float64 rows ``X`` (its capability
    :meth:`levrf.Kernel.feature_norm_proposal`), or a ``ValueError`` when it has none."""
    proposal = kernel.feature_norm_proposal(X)
    if proposal is None:
        raise ValueError(
            f"rejection sampling needs a bound on the feature norm ‖Φ(w)‖; none is known for "
            f"{kernel!r} (its feature_norm_proposal() returns None). Use sampling='leverage' "
            "(sampling-importance-resampling) instead, or give the kernel a feature_norm_proposal"
        )
    if not isinstance(proposal, FeatureNormProposal):
        raise TypeError(
            f"{type(kernel).__name__}.feature_norm_proposal() must return a "
            f"levrf.kernels.proposals.FeatureNormProposal or None, got {type(proposal).__name__}"
        )
    return proposal


@register_sampler
class RejectionSampler(Sampler):
    """Exact ridge-leverage sampling by rejection from the feature-norm envelope.

    Parameters
    ----------
    alpha : float > 0
        The regression's ridge λ.
    sampling_alpha : float > 0 or "auto"
        Leverage at this α' (float), or α' and a mixture from the ``"auto"`` rule.
    max_proposals : int
        Refuse (``ValueError``) when the expected number of proposals is larger.
    """

    name = "rejection"

    def __init__(
        self, alpha: float = 1.0, sampling_alpha="auto", max_proposals: int = DEFAULT_MAX_PROPOSALS
    ) -> None:
        self.alpha = check_positive(alpha, "alpha")
        self.sampling_alpha = check_sampling_alpha(sampling_alpha)
        self.max_proposals = check_positive_int(max_proposals, "max_proposals")

    @classmethod
    def from_config(cls, config: SamplingConfig) -> RejectionSampler:
        """``pool_size`` does not apply; the scores must be exact (``"auto"`` means exact here)."""
        if config.method not in ("auto", "exact"):
            raise ValueError(
                f"rejection sampling needs exact leverage: method must be 'auto' or 'exact', got {config.method!r}"
            )
        return cls(alpha=config.alpha, sampling_alpha=config.sampling_alpha)

    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample:
        m = check_positive_int(m, "m")
        if not isinstance(X, torch.Tensor):
            raise ValueError(
                "sampling='rejection' needs the n x n kernel matrix in memory; for rows that are not in "
                "memory (a Dask array X) use sampling='leverage' with leverage_method='approximate'"
            )
        # exact leverage whatever leverage_method says: refused above the n x n budget
        check_exact_fits(X.shape[0], "sampling='rejection' (exact leverage)")
        X = X.to(torch.float64)
        proposal = feature_norm_proposal(kernel, X)
        first_alpha = self.alpha if self.sampling_alpha == "auto" else float(self.sampling_alpha)
        scorer = ExactLeverage(kernel, X, first_alpha)
        params = resolve_sampling_parameters(
            self.sampling_alpha, m, self.alpha, scorer.statistical_dimension, X.shape[0]
        )
        scorer = scorer.at_alpha(params.alpha)
        eig = scorer.eigenvalues()
        # eigvalsh is backward stable: |error| ≲ n·eps·‖K‖; stay below the true λ_min
        lam_min = max(0.0, float(eig[0]) - 16 * X.shape[0] * torch.finfo(torch.float64).eps * float(eig[-1]))
        shift = lam_min + params.alpha
        s = scorer.statistical_dimension()
        acceptance = s * shift / proposal.expected_norm

        beta = params.mixture
        n_p = int((torch.rand(m, generator=generator, dtype=torch.float64) < beta).sum()) if beta > 0 else 0
        n_q = m - n_p
        expected = n_q / acceptance
        if expected > self.max_proposals:
            raise ValueError(
                f"rejection sampling would need about {expected:.3g} proposals (acceptance rate "
                f"{acceptance:.2e} = s_alpha (lambda_min + alpha) / E_p|Phi|^2); max_proposals is "
                f"{self.max_proposals}. Use sampling='leverage' or a larger sampling_alpha"
            )
        accepted, proposals, n_accepted, worst = [], 0, 0, 0.0
        while n_accepted < n_q:
            missing = n_q - n_accepted
            count = int(min(max(math.ceil(1.2 * missing / acceptance), 64), 1_000_000))
            W = proposal.draw(count, generator)
            prob = scorer(W) * shift / proposal.feature_norms(W)
            worst = max(worst, float(prob.max()))
            if worst > 1.0 + 1e-8:
                raise RuntimeError(f"rejection envelope violated (ratio {worst}); please report this bug")
            u = torch.rand(count, generator=generator, dtype=torch.float64).to(W.device)
            accepted.append(W[u < prob])
            n_accepted += accepted[-1].shape[0]
            proposals += count
        Wq = torch.cat(accepted)[:n_q] if n_q else X.new_zeros((0, X.shape[1]))
        Wp = draw_from_p(kernel, n_p, X.shape[1], generator, params.p_sequence)[0].to(torch.float64) if n_p else X.new_zeros((0, X.shape[1]))
        W = torch.cat([Wq, Wp])[torch.randperm(m, generator=generator).to(X.device)]
        tau = scorer(W)
        importance = ((1.0 - beta) * tau / s + beta).rsqrt()
        info = {
            "sampler": self.name,
            "sampling_alpha": params.alpha,
            "mixture": beta,
            "statistical_dimension": scorer.statistical_dimension(self.alpha),
            "statistical_dimension_source": "eigenvalues of K",
            "sampling_statistical_dimension": s,
            "acceptance_rate": (n_accepted / proposals) if proposals else float("nan"),
            "expected_acceptance_rate": acceptance,
            "proposals": proposals,
            "lambda_min": lam_min,
        }
        dtype = kernel.torch_dtype
        return WeightSample(W.to(dtype), importance.to(dtype), tau.to(dtype), info)
