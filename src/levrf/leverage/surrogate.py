"""The ``"surrogate"`` sampler: data-independent ``q(w) ∝ ‖w‖² p(w)`` for the ReLU kernels.

With ``p = N(0, I_d)``, ``E_p‖w‖² = d`` so ``q(w) = ‖w‖² p(w)/d`` and the importance weight is
exactly ``p/q = d/‖w‖²``. A draw is ``w = r·u`` with ``u`` uniform on the sphere and
``r² ~ χ²_{d+2}`` (the radial density of p tilted by r²). This is the leverage-score surrogate of
Zandieh et al. (2021) for arc-cosine features of order 1, where ``φ = relu(wᵀx)`` grows like ‖w‖
and so does the leverage, ``τ(w) = ‖w‖²·τ(w/‖w‖)``. For order 0 and the ReLU NTK the features
depend only on the direction of w, so this q is still exactly unbiased but cannot help.
"""

from __future__ import annotations

import torch

from .._validation import check_positive_int
from ..kernels import Kernel
from .samplers import Sampler, WeightSample, register_sampler


@register_sampler
class SurrogateSampler(Sampler):
    """Draw w from ``‖w‖² p(w)/d`` with importance weights ``sqrt(d)/‖w‖`` (kernels whose
    ``p_is_standard_normal``: the ReLU kernels)."""

    name = "surrogate"

    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample:
        if not kernel.p_is_standard_normal:
            raise ValueError(
                f"sampling='surrogate' needs weights drawn from p = N(0, I_d) (ArcCosineKernel, ReLUNTK, "
                f"or a kernel with p_is_standard_normal = True), not {kernel!r}"
            )
        m = check_positive_int(m, "m")
        d = X.shape[1]
        g = torch.randn((m, d), generator=generator, dtype=torch.float64)
        r = torch.randn((m, d + 2), generator=generator, dtype=torch.float64).norm(dim=1)
        W = g / g.norm(dim=1, keepdim=True) * r[:, None]
        importance = d**0.5 / W.norm(dim=1)
        dtype, device = kernel.torch_dtype, kernel.torch_device
        return WeightSample(
            W.to(device=device, dtype=dtype),
            importance.to(device=device, dtype=dtype),
            info={"sampler": self.name, "proposal": "|w|^2 p(w) / d"},
        )
