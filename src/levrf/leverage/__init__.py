"""Ridge leverage scores, samplers and spectral diagnostics."""

from .auto import SamplingParameters, auto_sampling_parameters
from .diagnostics import feature_bound, spectral_error, statistical_dimension
from .methods import METHODS, leverage_function, ridge_leverage
from .qmc import QMCSampler
from .rejection import RejectionSampler
from .samplers import (
    SAMPLERS,
    GaussianSampler,
    Sampler,
    SamplingConfig,
    WeightSample,
    make_sampler,
    register_sampler,
)
from .scores import ExactLeverage, LeverageScorer
from .sir import LeverageSampler
from .surrogate import SurrogateSampler

__all__ = [
    "METHODS",
    "QMCSampler",
    "SAMPLERS",
    "ExactLeverage",
    "LeverageScorer",
    "GaussianSampler",
    "LeverageSampler",
    "RejectionSampler",
    "Sampler",
    "SamplingParameters",
    "SurrogateSampler",
    "WeightSample",
    "auto_sampling_parameters",
    "feature_bound",
    "leverage_function",
    "SamplingConfig",
    "make_sampler",
    "register_sampler",
    "ridge_leverage",
    "spectral_error",
    "statistical_dimension",
]
