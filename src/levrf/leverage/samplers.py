"""Weight samplers: draw the m weights of the random features and their importance weights.

A sampler returns a :class:`WeightSample`: weights ``w_r`` drawn from some density ``q`` and
``importance_r = sqrt(p(w_r) / q(w_r))``, so that ``E_q[ΨΨᵀ] = K`` (Def. 3.2). New samplers
register themselves in ``SAMPLERS`` and become available to ``RandomFeatures(sampling=...)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch

from ..kernels import Kernel


@dataclass
class WeightSample:
    """Weights, their importance weights sqrt(p/q), and what the sampler learned on the way."""

    weights: torch.Tensor
    importance: torch.Tensor
    leverage: torch.Tensor | None = None
    info: dict = field(default_factory=dict)


class Sampler(ABC):
    """Draws ``m`` weights for ``kernel`` given the training inputs ``X`` (n, d)."""

    name: str = ""

    @abstractmethod
    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample: ...


class GaussianSampler(Sampler):
    """The classical sampler: weights from ``p`` itself, all importance weights 1.

    (Called "gaussian" because ``p`` is Gaussian for the Gaussian and ReLU kernels; for the
    Laplacian and Matérn kernels it is their own spectral density.)
    """

    name = "gaussian"

    def draw(self, kernel: Kernel, X: torch.Tensor, m: int, generator: torch.Generator) -> WeightSample:
        W = kernel.sample(m, X.shape[1], generator)
        return WeightSample(W, torch.ones(m, dtype=W.dtype, device=W.device))


#: name → factory(**options) -> Sampler; options are the RandomFeatures sampling parameters
SAMPLERS: dict[str, type[Sampler]] = {"gaussian": GaussianSampler}


def register_sampler(cls: type[Sampler]) -> type[Sampler]:
    """Class decorator: make ``cls`` available as ``sampling=cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} must set a non-empty class attribute 'name'")
    SAMPLERS[cls.name] = cls
    return cls


def make_sampler(name: str, **options) -> Sampler:
    """Build the sampler registered as ``name`` with the options it accepts."""
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ValueError(f"sampling must be one of {sorted(SAMPLERS)}, got {name!r}")
    cls = SAMPLERS[name]
    return cls.from_options(**options) if hasattr(cls, "from_options") else cls()
