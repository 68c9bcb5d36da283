"""The ``"qmc"`` sampler: randomized quasi-Monte Carlo weights.

Scrambled Sobol points ``u_1..u_m`` of the unit cube, mapped through the kernel's inverse CDF
(:meth:`~levrf.kernels.Kernel.weights_from_uniform`), cover ``p`` more evenly than i.i.d.
draws, so ``(1/m) Σ_r φ(x, w_r)ᵀφ(z, w_r)`` approximates ``K(x, z)`` with a smaller error for
the same m (Avron, Sindhwani, Yang & Mahoney, JMLR 2016). The scrambling (Owen's linear matrix
scramble and a digital shift) makes every single point uniform on the cube, and a uniform
jitter inside its 2⁻³⁰ grid cell makes it exactly U(0, 1)ᵏ, so each weight has the law ``p``
and ``E[ΨΨᵀ] = K`` still holds with all importance weights 1; only the dependence between the
weights changes. The seed comes from the ``torch.Generator``: same seed, same weights.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import torch
from scipy.stats import qmc

from .._validation import check_positive_int, numpy_to_torch
from ..kernels import Kernel
from .samplers import Sampler, WeightSample, register_sampler

#: bits of the Sobol generator (scipy's default): the points lie on a 2⁻³⁰ grid before the jitter
SOBOL_BITS = 30
#: largest cube dimension scipy's Sobol sequence supports
MAX_DIM = qmc.Sobol.MAXDIM
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"  # scipy ≥ 1.15


def sobol_uniforms(m: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``m`` scrambled Sobol points of ``(0, 1)ᵏ``, each exactly uniform: float64 (m, k) on the CPU."""
    m = check_positive_int(m, "m")
    k = check_positive_int(k, "k")
    if k > MAX_DIM:
        raise ValueError(f"quasi-Monte Carlo needs a cube of dimension ≤ {MAX_DIM}, got {k}")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    rng = np.random.default_rng(seed)
    engine = qmc.Sobol(k, scramble=True, bits=SOBOL_BITS, **{_RNG_KEYWORD: rng})
    with warnings.catch_warnings():
        # m need not be a power of two: the first m points are still better spread than i.i.d.
        warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
        U = engine.random(m)
    U += rng.random(U.shape) * 2.0**-SOBOL_BITS  # uniform inside the grid cell: never 0, exactly U(0,1)
    return numpy_to_torch(U, torch.float64)


def _cube_dimension(kernel: Kernel, d: int) -> int | None:
    return kernel.uniform_dim(d) if kernel.has_features else None


def supports_qmc(kernel: Kernel, d: int) -> bool:
    """Whether ``kernel`` maps uniforms to weights for inputs of dimension ``d``."""
    k = _cube_dimension(kernel, d)
    return k is not None and k <= MAX_DIM


def qmc_weights(kernel: Kernel, m: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """``m`` weights from ``p`` by randomized quasi-Monte Carlo (see the module docstring)."""
    k = _cube_dimension(kernel, d)
    if k is None or k > MAX_DIM:
        why = "has no inverse-CDF transform of p" if k is None else f"needs a {k}-dimensional cube (> {MAX_DIM})"
        raise ValueError(f"sampling='qmc' is not available: {type(kernel).__name__} {why}; use sampling='gaussian'")
    return kernel.weights_from_uniform(sobol_uniforms(m, k, generator), d)


@register_sampler
class QMCSampler(Sampler):
    """Weights from ``p`` by randomized quasi-Monte Carlo; importance weights all 1.

    Available for the Gaussian, Laplacian and Matérn kernels and the ReLU kernels (whose ``p``
    has a coordinate-wise inverse CDF); a ``FunctionKernel`` has none and raises.
    """

    name = "qmc"

    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample:
        m = check_positive_int(m, "m")
        d = int(X.shape[1])
        W = qmc_weights(kernel, m, d, generator)
        info = {"sampler": self.name, "sequence": f"scrambled Sobol ({SOBOL_BITS} bits) + cell jitter",
                "cube_dimension": kernel.uniform_dim(d)}
        return WeightSample(W, torch.ones(m, dtype=W.dtype, device=W.device), info=info)


def draw_from_p(
    kernel: Kernel, m: int, d: int, generator: torch.Generator, sequence: str = "iid"
) -> tuple[torch.Tensor, str]:
    """Weights from ``p`` for a leverage sampler's p part: ``sequence="qmc"`` asks for quasi-Monte
    Carlo (each weight still has the law ``p``, the set is spread more evenly), granted where the
    kernel allows it; otherwise i.i.d. Returns the weights and how they were drawn.
    """
    if sequence not in ("iid", "qmc"):
        raise ValueError(f"sequence must be 'iid' or 'qmc', got {sequence!r}")
    if sequence == "qmc" and supports_qmc(kernel, d):
        return qmc_weights(kernel, m, d, generator), "randomized quasi-Monte Carlo"
    return kernel.sample(m, d, generator), "i.i.d."
