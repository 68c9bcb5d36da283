"""levrf: leverage-score sampling of random features for kernel ridge regression and ReLU networks.

Implements "Generalized Leverage Score Sampling for Neural Networks" (Lee, Shen, Song, Wang, Yu,
NeurIPS 2020). See ``docs/`` for the mathematics and ``docs/architecture.md`` for the layout.
Dask support is a separate, optional import: ``import levrf.distributed``.
"""

from .scipy_blas import set_default_thread_timeout

set_default_thread_timeout()  # before SciPy's OpenBLAS is loaded (levrf.scipy_blas)

from . import datasets, nn
from .config import config_context, get_config, set_config
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
from .leverage import feature_bound, ridge_leverage, spectral_error, statistical_dimension
from .nystroem import Nystroem
from .persistence import ModelFileError, load, save
from .ridge import (
    KernelRidge,
    KernelRidgeClassifier,
    NystromRidge,
    NystromRidgeClassifier,
    NystromRidgeCV,
    RandomFeatureRidge,
    RandomFeatureRidgeClassifier,
    RandomFeatureRidgeCV,
)

__version__ = "0.1.0"

__all__ = [
    "ModelFileError",
    "load",
    "save",
    "ArcCosineKernel",
    "DeepReLUNTK",
    "FunctionKernel",
    "GaussianKernel",
    "Kernel",
    "KernelRidge",
    "KernelRidgeClassifier",
    "LaplacianKernel",
    "MaternKernel",
    "Nystroem",
    "NystromRidge",
    "NystromRidgeCV",
    "NystromRidgeClassifier",
    "RandomFeatureRidge",
    "RandomFeatureRidgeCV",
    "RandomFeatureRidgeClassifier",
    "RandomFeatures",
    "ReLUNTK",
    "config_context",
    "datasets",
    "get_config",
    "nn",
    "set_config",
    "feature_bound",
    "ridge_leverage",
    "spectral_error",
    "statistical_dimension",
]
