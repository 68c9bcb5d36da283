"""levrf: leverage-score sampling of random features for kernel ridge regression and ReLU networks.

Implements "Generalized Leverage Score Sampling for Neural Networks" (Lee, Shen, Song, Wang, Yu,
NeurIPS 2020). See ``docs/`` for the mathematics.
"""

from . import datasets, nn
from .features import RandomFeatures
from .kernels import (
    ArcCosineKernel,
    DeepReLUNTK,
    FunctionKernel,
    GaussianKernel,
    Kernel,
    LaplacianKernel,
    MaternKernel,
    ReLUNTK,
)
from .leverage import feature_bound, spectral_error, statistical_dimension

__version__ = "0.1.0"

__all__ = [
    "ArcCosineKernel",
    "DeepReLUNTK",
    "FunctionKernel",
    "GaussianKernel",
    "Kernel",
    "LaplacianKernel",
    "MaternKernel",
    "RandomFeatures",
    "ReLUNTK",
    "datasets",
    "nn",
    "feature_bound",
    "spectral_error",
    "statistical_dimension",
]
