"""Expectation-form kernels ``K(x, z) = E_{w~p}[φ(x, w)ᵀ φ(z, w)]`` (paper Eq. 3)."""

from .base import Kernel
from .function import FunctionKernel
from .relu import ArcCosineKernel, DeepReLUNTK, ReLUNTK
from .shift_invariant import GaussianKernel, LaplacianKernel, MaternKernel, ShiftInvariantKernel
from .spec import KERNELS, kernel_from_spec, kernel_to_spec

__all__ = [
    "KERNELS",
    "ArcCosineKernel",
    "DeepReLUNTK",
    "FunctionKernel",
    "GaussianKernel",
    "Kernel",
    "LaplacianKernel",
    "MaternKernel",
    "ReLUNTK",
    "ShiftInvariantKernel",
    "kernel_from_spec",
    "kernel_to_spec",
]
