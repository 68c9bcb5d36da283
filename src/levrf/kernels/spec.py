"""Kernels from short text specs, for the command line and for model files.

A spec is ``NAME`` or ``NAME:key=value,key=value``, e.g. ``gaussian:bandwidth=2``,
``matern:nu=2.5,bandwidth=1``, ``arccos:order=0``, ``relu-ntk``, ``deep-relu-ntk:depth=3``.
"""

from __future__ import annotations

import inspect

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
#: parameters that may also be the word "auto" (resolved from data)
_AUTO_PARAMS = {"bandwidth"}


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
    cls = KERNELS[name]
    allowed = kernel_parameters(cls)
    params: dict = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"kernel parameter {item!r} in {spec!r} must look like key=value; the parameters of "
                             f"{name!r} are {', '.join(allowed)}")
        if key not in allowed:
            raise ValueError(f"kernel {name!r} has no parameter {key!r}; its parameters are {', '.join(allowed)}")
        if key in params:
            raise ValueError(f"kernel parameter {key!r} is given twice in {spec!r}")
        try:
            params[key] = (
                value.strip() if key in _STR_PARAMS or (key in _AUTO_PARAMS and value.strip() == "auto")
                else int(value) if key in _INT_PARAMS else float(value)
            )
        except ValueError as exc:
            kind = "an integer" if key in _INT_PARAMS else "a number"
            raise ValueError(f"kernel parameter {key} in {spec!r} must be {kind}, got {value.strip()!r}") from exc
    if default_bandwidth is not None and "bandwidth" not in params and "bandwidth" in allowed:
        params["bandwidth"] = default_bandwidth
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad parameters for kernel {name!r} in {spec!r}: {exc}") from exc


def kernel_parameters(cls: type[Kernel]) -> list[str]:
    """The keyword parameters a kernel class accepts, in the order of its signature."""
    signature = inspect.signature(cls.__init__)
    return [p.name for p in signature.parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


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
