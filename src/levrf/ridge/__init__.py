"""Kernel ridge regression and classification: exact, random-feature (streaming), and CV."""

from .cv import RandomFeatureRidgeCV
from .exact import KernelRidge, KernelRidgeClassifier
from .nystrom import NystromRidge, NystromRidgeClassifier, NystromRidgeCV
from .random_features import RandomFeatureRidge, RandomFeatureRidgeClassifier
from .solvers import JitterWarning, NormalEquations, cholesky_solve

__all__ = [
    "JitterWarning",
    "KernelRidge",
    "KernelRidgeClassifier",
    "NormalEquations",
    "NystromRidge",
    "NystromRidgeCV",
    "NystromRidgeClassifier",
    "RandomFeatureRidge",
    "RandomFeatureRidgeCV",
    "RandomFeatureRidgeClassifier",
    "cholesky_solve",
]
