"""``DeepReLUNet``: a bias-free ReLU MLP, all layers trained, whose tangent kernel tends to ``DeepReLUNTK``.

NTK parametrization (that of :class:`levrf.DeepReLUNTK`), every weight i.i.d. N(0, 1)::

    g⁰ = x,   f^h = W^h g^{h−1},   g^h = sqrt(2/m) relu(f^h)   (h = 1..L),   f(x) = W^{L+1} g^L

f is positively homogeneous of degree L + 1 in all its weights, ``<∂f/∂θ, θ> = (L+1) f``, so
training with the penalty ``½ (α/(L+1)) ‖θ‖²`` makes the predictions follow
``du/dt = κ²Θ(t)(Y − u) − αu`` (Remark 4.2, Theorem E.1).

With ``symmetric=True`` the network is two identical copies combined as ``(f_A − f_B)/√2``: the
initial output is exactly 0 and the initial tangent kernel is that of one copy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import (
    as_generator,
    check_positive,
    check_positive_int,
    check_random_state,
    dtype_name,
    resolve_device,
    resolve_dtype,
)
from ..kernels import DeepReLUNTK
from .inputs import network_input


class DeepReLUNet(nn.Module):
    """ReLU MLP with ``depth`` hidden layers of ``width`` units in the NTK parametrization.

    Parameters
    ----------
    in_features : int
        Input dimension d.
    width : int
        Units per hidden layer m.
    depth : int, default=2
        Number of hidden layers L; there are L + 1 trained weight matrices.
    kappa : float, default=1.0
        Output scale κ used by :func:`levrf.nn.train_regularized` when not given there.
    symmetric : bool, default=False
        Two identical copies combined as ``(f_A − f_B)/√2`` so that the initial output is 0.
    random_state : int, numpy.random.Generator or None
        Seed of the N(0, 1) weights; ``None`` means seed 0. A NumPy generator gives one seed
        drawn from it (scikit-learn's convention); a ``torch.Generator`` is refused.
    dtype : {"float64", "float32"}
        Dtype of the weights. Inputs are cast to it (like levrf's estimators, unlike
        ``torch.nn.Linear``, which refuses a float32 input to a float64 layer).
    device : str
        ``"cpu"`` or a CUDA device that exists; inputs are moved to it.

    Attributes
    ----------
    weights : nn.ParameterList
        ``W¹`` (c, m, d), ``W²..W^L`` (c, m, m), ``W^{L+1}`` (c, m), with c = 2 copies when
        symmetric, else 1.
    copy_scale : buffer (c,)
        ``[1]`` or ``[1/√2, −1/√2]``.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int = 2,
        kappa: float = 1.0,
        symmetric: bool = False,
        *,
        random_state=None,
        dtype: str = "float64",
        device: str = "cpu",
    ) -> None:
        super().__init__()
        d = check_positive_int(in_features, "in_features")
        m = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth")
        self.kappa = check_positive(kappa, "kappa")
        if not isinstance(symmetric, bool):
            raise TypeError(f"symmetric must be a bool, got {type(symmetric).__name__}")
        self.symmetric = symmetric
        tdtype, tdevice = resolve_dtype(dtype), resolve_device(device)
        gen = as_generator(check_random_state(random_state))
        shapes = [(m, d)] + [(m, m)] * (self.depth - 1) + [(m,)]
        drawn = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        copies = 2 if symmetric else 1
        self.weights = nn.ParameterList(
            nn.Parameter(w.to(device=tdevice, dtype=tdtype).unsqueeze(0).repeat(copies, *[1] * w.ndim))
            for w in drawn
        )
        scale = [1 / math.sqrt(2), -1 / math.sqrt(2)] if symmetric else [1.0]
        self.register_buffer("copy_scale", torch.tensor(scale, dtype=tdtype, device=tdevice))

    @property
    def n_trained_layers(self) -> int:
        """L + 1: the degree of positive homogeneity of f in its weights."""
        return self.depth + 1

    @property
    def width(self) -> int:
        return self.weights[0].shape[1]

    @property
    def in_features(self) -> int:
        return self.weights[0].shape[2]

    def limit_kernel(self) -> DeepReLUNTK:
        """The infinite-width tangent kernel ``Θ``."""
        return DeepReLUNTK(self.depth, dtype=dtype_name(self.copy_scale.dtype), device=str(self.copy_scale.device))

    def _copy_trace(self, X: torch.Tensor, c: int):
        """Output (n,), layer inputs and pre-activations of copy ``c`` alone.

        Each copy's weights are cloned into a fresh (equally aligned) buffer first: a view of
        copy 1 inside the stacked (c, ·) parameter starts at an offset that need not be a
        multiple of the SIMD width, and BLAS rounds misaligned operands differently. With
        equal operands, equal alignment and the same call, the two copies of a symmetric net
        give bitwise-equal outputs, so ``f_A − f_B`` is exactly 0 at initialization.
        """
        root = math.sqrt(2.0 / self.width)
        weights = list(self.weights)  # slicing a ParameterList builds a new module each time
        g, inputs, preacts = X, [], []
        for W in weights[:-1]:
            inputs.append(g)
            f = g @ W[c].clone().T
            preacts.append(f)
            g = root * torch.relu(f)
        inputs.append(g)
        return g @ weights[-1][c].clone(), inputs, preacts

    def _trace(self, X: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Output (n,), layer inputs ``g^{h−1}`` (c, n, ·) for h = 1..L+1, pre-activations ``f^h``."""
        traces = [self._copy_trace(X, c) for c in range(self.copy_scale.shape[0])]
        inputs = [torch.stack(layer) for layer in zip(*(t[1] for t in traces), strict=True)]
        preacts = [torch.stack(layer) for layer in zip(*(t[2] for t in traces), strict=True)]
        return self._combine([t[0] for t in traces]), inputs, preacts

    def _combine(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        """``f_A`` or ``(f_A − f_B)/√2``, the difference taken first so equal copies cancel exactly.

        (``copy_scale @ out`` may fuse the two products into one FMA, which leaves the rounding
        error of ``f_A/√2`` instead of 0.)
        """
        if len(outputs) == 1:
            return outputs[0]
        return (outputs[0] - outputs[1]) * (1 / math.sqrt(2))

    def forward(self, X) -> torch.Tensor:
        """``f(θ, x_i)`` for each row of ``X`` (n, d), cast to the network's dtype: tensor (n,)."""
        X = network_input(X, self.in_features, self.copy_scale)
        return self._combine([self._copy_trace(X, c)[0] for c in range(self.copy_scale.shape[0])])

    def _backprop(self, inputs, preacts) -> list[torch.Tensor]:
        """Per-example ``∂f(x_i)/∂f^h`` (c, n, m) for every hidden layer, and ``∂f/∂(W^{L+1}g^L)``."""
        root = math.sqrt(2.0 / self.width)
        weights = list(self.weights)
        scale = self.copy_scale[:, None, None]
        delta = scale * weights[-1][:, None, :] * root * (preacts[-1] > 0)
        deltas = [delta]
        for W, f in zip(reversed(weights[1:-1]), reversed(preacts[:-1]), strict=True):
            delta = (delta @ W) * root * (f > 0)
            deltas.append(delta)
        return deltas[::-1]

    def tangent_kernel(self, X: torch.Tensor, Z: torch.Tensor | None = None) -> torch.Tensor:
        """``Θ(t)_ij = <∂f(x_i)/∂θ, ∂f(z_j)/∂θ>`` from one forward and backward pass per input set.

        The gradient of ``W^h`` at one input is ``δ^h ⊗ g^{h−1}``, so each layer contributes
        ``(G^{h−1} G^{h−1}ᵀ) ⊙ (Δ^h Δ^hᵀ)``; no per-example Jacobian is formed.
        """
        X = network_input(X, self.in_features, self.copy_scale)
        Z = None if Z is None else network_input(Z, self.in_features, self.copy_scale, name="Z")
        with torch.no_grad():
            _, gx, fx = self._trace(X)
            dx = self._backprop(gx, fx)
            if Z is None:
                gz, dz = gx, dx
            else:
                _, gz, fz = self._trace(Z)
                dz = self._backprop(gz, fz)
            scale2 = (self.copy_scale**2)[:, None, None]
            K = (scale2 * (gx[-1] @ gz[-1].transpose(1, 2))).sum(0)
            for a, b, da, db in zip(gx[:-1], gz[:-1], dx, dz, strict=True):
                K = K + ((a @ b.transpose(1, 2)) * (da @ db.transpose(1, 2))).sum(0)
        return K
