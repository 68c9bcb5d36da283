"""Regularized ReLU networks and their NTK ridge regression twins (paper Section 3.2, Appendix E).

See ``docs/networks.md`` for the equations and the checks of Theorems 3.6, 3.7, 3.9 and E.1.
"""

from .deep import DeepReLUNet
from .init import leverage_init_
from .ntk import RidgePrediction, dynamic_kernel, empirical_ntk, ntk_ridge
from .train import History, default_learning_rate, stopping_time, train_regularized
from .two_layer import TwoLayerReLU

__all__ = [
    "DeepReLUNet",
    "History",
    "RidgePrediction",
    "TwoLayerReLU",
    "default_learning_rate",
    "dynamic_kernel",
    "empirical_ntk",
    "leverage_init_",
    "ntk_ridge",
    "stopping_time",
    "train_regularized",
]
