"""Kernels from short text specs, for the command line and for model files.

A spec is ``NAME`` or ``NAME:key=value,key=value``, e.g. ``gaussian:bandwidth=2``,
``matern:nu=2.5,bandwidth=1``, ``arccos:order=0``, ``relu-ntk``, ``deep-relu-ntk:depth=3``.
"""

from __future__ import annotations

from .base import Kernel
from .relu import ArcCosineKernel, DeepReLUNTK, ReLUNTK
from .shift_invariant import GaussianKernel, LaplacianKernel, MaternKernel

KERNELS: dict[str, type[Kernel]] = {
    "gaussian": GaussianKernel,
    "laplacian": LaplacianKernel,
    "matern": MaternKernel,
    "arccos": ArcCosineKernel,
    "relu-ntk": ReLUNTK,
    "deep-relu-ntk": DeepReLUNTK,
}
_INT_PARAMS = {"order", "depth"}
_STR_PARAMS = {"dtype", "device"}


def kernel_from_spec(spec: str, *, default_bandwidth: float | None = None) -> Kernel:
    """Build a kernel from ``NAME[:key=value,...]``.

    ``default_bandwidth`` is used for kernels with a bandwidth when the spec names none.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"kernel spec must be a non-empty string like 'gaussian:bandwidth=2', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; known kernels: {', '.join(KERNELS)}")
    params: dict = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"kernel parameter {item!r} in {spec!r} must look like key=value")
        key = key.strip()
        try:
            params[key] = (
                value.strip() if key in _STR_PARAMS else int(value) if key in _INT_PARAMS else float(value)
            )
        except ValueError as exc:
            raise ValueError(f"kernel parameter {key} in {spec!r} must be a number, got {value!r}") from exc
    cls = KERNELS[name]
    if default_bandwidth is not None and "bandwidth" not in params and name in {"gaussian", "laplacian", "matern"}:
        params["bandwidth"] = default_bandwidth
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for kernel {name!r}: {exc}") from exc


_DEFAULTS = {"dtype": "float64", "device": "cpu"}


def kernel_to_spec(kernel: Kernel, *, digits: int | None = None) -> str:
    """Inverse of :func:`kernel_from_spec` for the built-in kernels.

    ``digits`` rounds numbers for display (e.g. plot titles); ``None`` keeps them exact.
    """
    for name, cls in KERNELS.items():
        if type(kernel) is cls:
            params = {k: v for k, v in kernel.get_params().items() if _DEFAULTS.get(k) != v}
            fmt = (lambda v: f"{v:.{digits}g}" if isinstance(v, float) else str(v)) if digits else repr
            args = ",".join(f"{k}={fmt(v) if not isinstance(v, str) else v}" for k, v in params.items())
            return f"{name}:{args}" if args else name
    raise ValueError(f"{type(kernel).__name__} has no text spec (user kernels cannot be saved as a spec)")
