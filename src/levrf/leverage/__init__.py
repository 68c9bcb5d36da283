"""Ridge leverage scores, samplers and spectral diagnostics."""

from .diagnostics import feature_bound, spectral_error, statistical_dimension
from .samplers import SAMPLERS, GaussianSampler, Sampler, WeightSample, make_sampler

__all__ = [
    "SAMPLERS",
    "GaussianSampler",
    "Sampler",
    "WeightSample",
    "feature_bound",
    "make_sampler",
    "spectral_error",
    "statistical_dimension",
]
