"""Weight samplers: draw the m weights of the random features and their importance weights.

A sampler returns a :class:`WeightSample`: weights ``w_r`` drawn from some density ``q`` and
``importance_r = sqrt(p(w_r) / q(w_r))``, so that ``E_q[ΨΨᵀ] = K`` (Def. 3.2). New samplers
register themselves in ``SAMPLERS`` and become available to ``RandomFeatures(sampling=...)``.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch

from .._validation import check_positive, check_positive_int
from ..kernels import Kernel
from .auto import check_sampling_alpha
from .methods import SCORER_METHODS, check_method


@dataclass
class WeightSample:
    """Weights, their importance weights sqrt(p/q), and what the sampler learned on the way."""

    weights: torch.Tensor
    importance: torch.Tensor
    leverage: torch.Tensor | None = None
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingConfig:
    """The sampling parameters of ``RandomFeatures``, validated once, given to every sampler.

    Each sampler takes what applies to it (:meth:`Sampler.from_config`); samplers from ``p``
    ignore all of it.

    Attributes
    ----------
    alpha : float > 0
        The regression's ridge λ.
    sampling_alpha : float > 0 or "auto"
        The λ' of the leverage distribution, or ``"auto"`` (:mod:`levrf.leverage.auto`).
    pool_size : int or None
        Candidates scored by pool-based samplers (``None``: 16·m).
    method : str
        How leverage scores are computed (:data:`levrf.leverage.methods.SCORER_METHODS`).
    """

    alpha: float = 1.0
    sampling_alpha: float | str = "auto"
    pool_size: int | None = None
    method: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_positive(self.alpha, "alpha"))
        object.__setattr__(self, "sampling_alpha", check_sampling_alpha(self.sampling_alpha))
        if self.pool_size is not None:
            object.__setattr__(self, "pool_size", check_positive_int(self.pool_size, "pool_size"))
        check_method(self.method, SCORER_METHODS)


class Sampler(ABC):
    """Draws ``m`` weights for ``kernel`` given the training inputs ``X`` (n, d).

    ``X`` is a tensor, or :class:`levrf.rows.Rows` for data that are not in memory (samplers
    that need every row refuse those).
    """

    name: str = ""

    @classmethod
    def from_config(cls, config: SamplingConfig) -> Sampler:
        """This sampler built from the options that apply to it (none, by default)."""
        return cls()

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


def make_sampler(name: str, config: SamplingConfig | None = None, **options) -> Sampler:
    """Build the sampler registered as ``name`` from ``config`` (or from ``SamplingConfig(**options)``).

    ``method="rejection"`` is a deprecated second spelling of ``name="rejection"``.
    """
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ValueError(f"sampling must be one of {sorted(SAMPLERS)}, got {name!r}")
    if config is None:
        if options.get("method") == "rejection":
            warnings.warn(
                "leverage_method='rejection' is deprecated and will be removed; use sampling='rejection'",
                FutureWarning,
                stacklevel=3,
            )
            name, options = "rejection", {**options, "method": "exact"}
        config = SamplingConfig(**options)
    return SAMPLERS[name].from_config(config)
