"""The ``"rejection"`` sampler: exact draws from the leverage distribution ``q_α/s_α``.

Envelope (provably valid). For every weight,
``τ_α(w) = tr[Φ(w)ᵀ(K + αI)⁻¹Φ(w)] ≤ ‖Φ(w)‖_F² / (λ_min(K) + α)``, so the target density
``p(w)τ_α(w)/s_α`` is dominated by ``p(w)‖Φ(w)‖_F²/(λ_min + α)``. Normalised, that envelope is
the *feature-norm proposal* ``q₀(w) = p(w)‖Φ(w)‖_F² / tr K`` (because ``E_p‖Φ(w)‖_F² = tr K``),
and a proposal ``w ~ q₀`` is accepted with probability ``τ_α(w)(λ_min + α)/‖Φ(w)‖_F²`` ≤ 1. The
acceptance rate is ``s_α (λ_min + α) / tr K``. ``q₀`` is sampled exactly:

* cos/sin features: ``‖Φ(w)‖_F² = n`` for every w, so ``q₀ = p``;
* ReLU NTK, arc-cosine order 0: ``‖Φ(w)‖_F² = Σ_i c_i 1[x_iᵀw ≥ 0]`` — pick row i with
  probability ∝ its mass, then w ~ p conditioned on ``x_iᵀw ≥ 0`` (flip the sign of a draw);
* arc-cosine order 1: ``‖Φ(w)‖_F² = Σ_i relu(x_iᵀw)²`` — pick i ∝ ‖x_i‖², then w ~ N(0, I)
  except that its component along ``x_i/‖x_i‖`` is chi-distributed with 3 degrees of freedom.

Accepted weights follow ``q_α/s_α`` exactly; importance weights ``sqrt(s_α/τ_α(w))`` use the exact
``s_α = Σ λ_i/(λ_i + α)`` (eigenvalues of K). With a mixture β, a Binomial(m, β) number of the
weights come from p instead and all get ``1/sqrt((1 − β)τ/s_α + β)``.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_positive, check_positive_int
from ..kernels import ArcCosineKernel, Kernel, ReLUNTK, ShiftInvariantKernel
from .auto import check_sampling_alpha, resolve_sampling_parameters
from .qmc import draw_from_p
from .samplers import Sampler, SamplingConfig, WeightSample, register_sampler
from .scores import ExactLeverage, weight_chunk

#: refuse to start when the expected number of proposals exceeds this
DEFAULT_MAX_PROPOSALS = 2_000_000


class FeatureNormProposal:
    """Sampler of ``q₀(w) ∝ p(w)‖Φ(w)‖_F²`` and the exact ``‖Φ(w)‖_F²`` of any weights."""

    def __init__(self, kernel: Kernel, X: torch.Tensor) -> None:
        if isinstance(kernel, ShiftInvariantKernel):
            self.kind = "p"
        elif isinstance(kernel, ReLUNTK) or (isinstance(kernel, ArcCosineKernel) and kernel.order == 0):
            self.kind = "halfspace"
        elif isinstance(kernel, ArcCosineKernel):
            self.kind = "chi3"
        else:
            raise ValueError(
                f"rejection sampling needs a bound on the feature norm ‖Φ(w)‖; none is known for "
                f"{kernel!r}. Use sampling='leverage' (sampling-importance-resampling) instead"
            )
        self.kernel = kernel
        self.X = X
        sq = (X * X).sum(1)
        # row_mass[i] = E_p ‖φ(x_i, w)‖², the weight of row i in the mixture q₀
        if isinstance(kernel, ReLUNTK):
            self.row_mass = sq / 2.0  # 1[x_iᵀw ≥ 0]‖x_i‖²; a zero row adds nothing
        elif self.kind == "halfspace":
            # arc-cos order 0: a zero row has φ = 1[0 ≥ 0] = 1 for every w (mass 1, not 1/2)
            self.row_mass = torch.where(sq > 0, torch.full_like(sq, 0.5), torch.ones_like(sq))
        else:
            self.row_mass = sq / 2.0
        self.norms = sq.sqrt()
        #: E_p ‖Φ(w)‖_F² (= tr K when the closed form matches the features)
        self.expected_norm = float(X.shape[0]) if self.kind == "p" else float(self.row_mass.sum())

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` weights from q₀ (float64, on X's device)."""
        d = self.X.shape[1]
        W = self.kernel.sample(count, d, generator).to(torch.float64)
        if self.kind == "p":
            return W
        rows = torch.multinomial(self.row_mass.cpu(), count, replacement=True, generator=generator)
        x = self.X[rows.to(self.X.device)]
        nx = self.norms[rows.to(self.X.device)]
        unit = x / torch.where(nx > 0, nx, torch.ones_like(nx))[:, None]
        along = (W * unit).sum(1)
        if self.kind == "halfspace":
            return torch.where((along < 0)[:, None], -W, W)  # zero rows: unit = 0, W unchanged
        chi3 = torch.randn((count, 3), generator=generator, dtype=torch.float64).norm(dim=1)
        return W + (chi3.to(W.device) - along)[:, None] * unit

    def feature_norms(self, W: torch.Tensor) -> torch.Tensor:
        """``‖Φ(w)‖_F²`` for each row of W."""
        if self.kind == "p":
            return torch.full((W.shape[0],), float(self.X.shape[0]), dtype=torch.float64, device=W.device)
        step = weight_chunk(self.X.shape[0], 2, None)
        out = []
        for a in range(0, W.shape[0], step):
            proj = self.X @ W[a : a + step].T
            if isinstance(self.kernel, ReLUNTK):
                out.append(((proj >= 0).to(torch.float64) * (self.norms**2)[:, None]).sum(0))
            elif self.kind == "halfspace":
                out.append((proj >= 0).to(torch.float64).sum(0))
            else:
                out.append(proj.clamp_min(0.0).pow(2).sum(0))
        return torch.cat(out)


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
        """``pool_size`` does not apply; the scores must be exact."""
        if config.method != "exact":
            raise ValueError(f"rejection sampling needs exact leverage: method must be 'exact', got {config.method!r}")
        return cls(alpha=config.alpha, sampling_alpha=config.sampling_alpha)

    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample:
        m = check_positive_int(m, "m")
        if not isinstance(X, torch.Tensor):
            raise ValueError(
                "sampling='rejection' needs the n x n kernel matrix in memory; for rows that are not in "
                "memory (a Dask array X) use sampling='leverage' with leverage_method='approximate'"
            )
        X = X.to(torch.float64)
        proposal = FeatureNormProposal(kernel, X)
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
