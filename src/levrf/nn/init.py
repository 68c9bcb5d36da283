"""``leverage_init_``: leverage-score initialization (Definition 3.8) for a user's own two-layer block."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import as_generator, as_matrix, check_positive, dtype_name, resolve_device
from ..kernels import ReLUNTK
from ..leverage.samplers import WeightSample
from .two_layer import draw_leverage


def leverage_init_(
    first: nn.Linear,
    second: nn.Linear,
    X,
    alpha: float,
    generator=None,
    *,
    sampling_alpha="auto",
    pool_size: int | None = None,
    leverage_method: str = "auto",
) -> WeightSample:
    """Initialize ``second(relu(first(x)))`` in place with leverage-sampled first-layer weights.

    The rows of ``first.weight`` are drawn from the ridge leverage distribution of the ReLU NTK
    on ``X`` at ridge ``alpha``, and column r of ``second.weight`` is multiplied by the
    importance weight ``c_r = sqrt(p(w_r)/q(w_r))``. If ``second.weight`` held ``a_r / sqrt(m)``,
    the block now computes :class:`TwoLayerReLU` with leverage initialization,
    ``m^{-1/2} Σ_r a_r c_r max(w_rᵀx, 0)``. ``second.bias`` is left as it is.

    Parameters
    ----------
    first : nn.Linear(d, m, bias=False)
    second : nn.Linear(m, k)
    X : array (n, d)
        Training inputs that define the leverage distribution.
    alpha : float > 0
        Ridge parameter λ of the leverage scores (for ``κ²H + αI`` pass ``α/κ²``).
    generator : int, torch.Generator or None
        Seed; ``None`` means seed 0.
    sampling_alpha, pool_size, leverage_method
        Passed to the leverage sampler.

    Returns
    -------
    WeightSample
        The weights, importance weights and leverage scores that were used.
    """
    if not isinstance(first, nn.Linear) or not isinstance(second, nn.Linear):
        raise TypeError("first and second must be torch.nn.Linear layers")
    if first.bias is not None:
        raise ValueError("first must be bias-free (nn.Linear(d, m, bias=False)): the NTK features have no bias")
    m, d = first.weight.shape
    if second.weight.shape[1] != m:
        raise ValueError(f"second has {second.weight.shape[1]} inputs but first has {m} outputs")
    alpha = check_positive(alpha, "alpha")
    dtype, device = first.weight.dtype, first.weight.device
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"first.weight must be float32 or float64, got {dtype}")
    resolve_device(device, name="first.weight's device")
    Xt = as_matrix(X, "X", dtype=dtype, device=device)
    if Xt.shape[1] != d:
        raise ValueError(f"X has {Xt.shape[1]} columns but first expects {d} inputs")
    kernel = ReLUNTK(dtype=dtype_name(dtype), device=str(device))
    sample = draw_leverage(kernel, Xt, m, alpha, as_generator(generator), sampling_alpha=sampling_alpha,
                           pool_size=pool_size, method=leverage_method)
    with torch.no_grad():
        first.weight.copy_(sample.weights.to(dtype=dtype, device=device))
        second.weight.mul_(sample.importance.to(dtype=second.weight.dtype, device=second.weight.device))
    return sample
