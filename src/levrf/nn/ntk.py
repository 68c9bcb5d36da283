"""The kernel side of the equivalence: NTK ridge regression (Eq. 24–25) and the network's tangent kernel.

    u*      = κ² H (κ² H + αI)⁻¹ Y
    u*_test = κ² K(X_test, X) (κ² H + αI)⁻¹ Y
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .._validation import (
    as_matrix,
    check_n_features,
    check_positive,
    check_positive_int,
    numpy_to_torch,
    resolve_device,
)
from ..kernels import Kernel, ReLUNTK
from ..ridge import KernelRidge
from .inputs import values_checked


class RidgePrediction(NamedTuple):
    """NTK ridge regression predictions at the training inputs and (optionally) at test inputs."""

    train: torch.Tensor
    test: torch.Tensor | None


def as_targets(y, n: int, *, dtype=torch.float64, device=None, name: str = "y") -> torch.Tensor:
    """Targets as a finite tensor (n,) or (n, k) with ``n`` rows."""
    if y is None:
        raise ValueError(f"{name} must be an array of {n} targets, got None")
    if isinstance(y, torch.Tensor):
        if y.is_complex() or y.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {y.dtype}")
        T = y.detach().to(dtype=dtype, device=device)
    else:
        T = numpy_to_torch(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype, device, name=name)
    if T.ndim not in (1, 2) or T.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {tuple(T.shape)}")
    if not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return T


def ntk_ridge(X, y, alpha: float, kappa: float = 1.0, X_test=None, kernel: Kernel | None = None
              ) -> RidgePrediction:
    """Predictions of NTK ridge regression, the fixed point of the regularized network's flow.

    ``κ²H(κ²H + αI)⁻¹Y = H(H + (α/κ²)I)⁻¹Y``, so this is :class:`levrf.KernelRidge` with the
    kernel ``H`` and ridge ``α/κ²``, predicting at ``X`` and ``X_test`` (its Cholesky solve, with
    the documented jitter and ``JitterWarning`` when ``κ²H + αI`` is numerically singular).

    Parameters
    ----------
    X : array (n, d)
        Training inputs.
    y : array (n,) or (n, k)
        Targets ``Y``.
    alpha : float > 0
        Ridge parameter α (the network's penalty weight).
    kappa : float > 0, default=1.0
        Output scale κ of the network.
    X_test : array (n', d), optional
        Test inputs.
    kernel : levrf kernel, default=ReLUNTK()
        The limiting tangent kernel ``H^cts`` (``DeepReLUNTK(L)`` for an L-hidden-layer net).

    Returns
    -------
    RidgePrediction
        ``train = κ²H(κ²H + αI)⁻¹Y`` and ``test = κ²K(X_test, X)(κ²H + αI)⁻¹Y`` (None without
        X_test), tensors in the kernel's dtype on its device.
    """
    alpha = check_positive(alpha, "alpha")
    kappa = check_positive(kappa, "kappa")
    kernel = ReLUNTK() if kernel is None else kernel
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a levrf kernel, got {kernel!r}")
    X = as_matrix(X, "X", dtype=kernel.torch_dtype, device=kernel.torch_device)
    Y = as_targets(y, X.shape[0], dtype=X.dtype, device=X.device)
    Xt = None
    if X_test is not None:
        Xt = as_matrix(X_test, "X_test", dtype=X.dtype, device=X.device)
        if Xt.shape[1] != X.shape[1]:
            raise ValueError(f"X_test has {Xt.shape[1]} columns but X has {X.shape[1]}")
    ridge = alpha / kappa**2
    if not (math.isfinite(ridge) and ridge >= torch.finfo(torch.float64).tiny):
        raise ValueError(f"alpha / kappa**2 must be a positive normal number, got {alpha} / {kappa}**2 = {ridge}")
    # no intercept: the network's gradient flow has none (u* = κ²H(κ²H + λI)⁻¹Y, Eq. 15–16)
    model = KernelRidge(kernel, alpha=ridge, dtype=kernel.dtype, device=str(kernel.device), fit_intercept=False)
    model.fit(X.cpu().numpy(), Y.cpu().numpy())

    def predict(Z: torch.Tensor) -> torch.Tensor:
        return numpy_to_torch(model.predict(Z.cpu().numpy()), X.dtype, X.device)

    return RidgePrediction(predict(X), None if Xt is None else predict(Xt))


def dynamic_kernel(net: nn.Module, X, Z=None) -> torch.Tensor:
    """The tangent kernel ``H(t)_ij = <∂f(W(t), x_i)/∂W, ∂f(W(t), z_j)/∂W>`` of the current weights.

    Closed form for :class:`TwoLayerReLU` (``(1/m) Σ_r c_r² x_iᵀz_j 1[w_rᵀx_i ≥ 0] 1[w_rᵀz_j ≥ 0]``),
    layer-wise products of forward activations and backpropagated signals for
    :class:`DeepReLUNet`, and per-example Jacobians (``torch.func``) for any other module with
    scalar output per example.

    Parameters
    ----------
    net : torch module mapping (n, d) inputs to (n,) outputs
    X : array (n, d)
        Cast to the dtype and device of ``net``'s parameters; ``d`` must be ``net.in_features``
        when the net has that attribute.
    Z : array (n', d), optional; ``None`` means ``Z = X``

    Returns
    -------
    tensor (n, n')
    """
    X, Z = net_inputs(net, X, Z)
    if hasattr(net, "tangent_kernel"):
        with torch.no_grad():
            return net.tangent_kernel(X, Z)
    return empirical_ntk(net, X, Z)


def net_inputs(net: nn.Module, X, Z=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check ``net`` and cast ``X`` (and ``Z``) to the dtype and device of its parameters.

    Both must be finite and have the same width, ``net.in_features`` when the net has one.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    p = next(net.parameters(), None)
    if p is None:
        raise ValueError("net has no parameters, so it has no tangent kernel")
    if p.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"net's parameters must be float32 or float64, got {p.dtype}")
    device = resolve_device(p.device, name="net's device")
    X = as_matrix(X, "X", dtype=p.dtype, device=device)
    Z = None if Z is None else as_matrix(Z, "Z", dtype=p.dtype, device=device)
    width = getattr(net, "in_features", None)
    if isinstance(width, int):
        check_n_features(X, width, "X")
        if Z is not None:
            check_n_features(Z, width, "Z")
    if Z is not None and Z.shape[1] != X.shape[1]:
        raise ValueError(f"Z has {Z.shape[1]} columns but X has {X.shape[1]}")
    return X, Z


def empirical_ntk(net: nn.Module, X, Z=None,
                  batch_size: int = 64) -> torch.Tensor:
    """Tangent kernel of any scalar-output module from per-example Jacobians (``torch.func``).

    Builds the Jacobian of ``batch_size`` examples at a time: memory ``batch_size × n_params``.
    ``X`` and ``Z`` are cast to the dtype and device of the parameters, as in
    :func:`dynamic_kernel`.
    """
    from torch.func import functional_call, jacrev, vmap

    X, Z = net_inputs(net, X, Z)
    batch_size = check_positive_int(batch_size, "batch_size")
    params = {k: v.detach() for k, v in net.named_parameters()}

    def single(theta, x):
        return functional_call(net, theta, (x.unsqueeze(0),)).reshape(())

    def jac(A):
        blocks = []
        for s in range(0, A.shape[0], batch_size):
            J = vmap(jacrev(single), in_dims=(None, 0))(params, A[s : s + batch_size])
            blocks.append(torch.cat([j.reshape(j.shape[0], -1) for j in J.values()], dim=1))
        return torch.cat(blocks)

    with values_checked():  # checked above; vmap cannot read values
        JX = jac(X)
        JZ = JX if Z is None else jac(Z)
    return JX @ JZ.T
