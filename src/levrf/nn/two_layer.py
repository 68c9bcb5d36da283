"""``TwoLayerReLU``: the paper's two-layer ReLU network with a trained first layer (Def. 3.5, 3.8).

    f(W, x) = m^{-1/2} Σ_r a_r c_r max(w_rᵀx, 0)

``a_r ∈ {−1, +1}`` and ``c_r`` are fixed buffers; only ``W`` (m, d) is trained. ``c_r = 1`` for
Gaussian initialization and ``c_r = sqrt(p(w_r(0)) / q(w_r(0)))`` for leverage-score
initialization, ``q`` being the ridge leverage distribution of ``ReLUNTK`` on the training inputs.
Its tangent kernel is the modified ReLU-NTK random-feature Gram matrix of the current weights::

    H(t)_ij = (1/m) Σ_r c_r² x_iᵀx_j 1[w_r(t)ᵀx_i ≥ 0] 1[w_r(t)ᵀx_j ≥ 0]
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import (
    as_generator,
    as_matrix,
    as_vector,
    check_n_features,
    check_positive,
    check_positive_int,
    check_random_state,
    dtype_name,
    resolve_device,
    resolve_dtype,
)
from ..kernels import ReLUNTK
from .inputs import network_input

INITS = ("gaussian", "leverage")


class TwoLayerReLU(nn.Module):
    """Two-layer ReLU network ``f(W, x) = m^{-1/2} Σ_r a_r c_r max(w_rᵀx, 0)``.

    Parameters
    ----------
    in_features : int
        Input dimension ``d``.
    width : int
        Number of hidden neurons ``m`` (even when ``symmetric=True``).
    init : {"gaussian", "leverage"}, default="gaussian"
        ``"gaussian"``: ``w_r ~ N(0, I)``, ``c_r = 1``. ``"leverage"``: ``w_r`` drawn from the ridge
        leverage distribution of ``ReLUNTK`` on ``X`` and ``c_r = sqrt(p/q)`` (Definition 3.8).
    kappa : float, default=1.0
        Output scale κ used by :func:`levrf.nn.train_regularized` when it is not given there
        (the trained predictor is ``κ f``); also sets the leverage ridge ``alpha / κ²``.
    symmetric : bool, default=False
        Pair the neurons: ``w_{r+m/2} = w_r`` and ``a_{r+m/2} = −a_r``, so ``f(W(0), ·) = 0``.
    alpha : float, optional
        Ridge parameter α of the training objective; required for ``init="leverage"``, whose
        leverage scores are those of ``H^cts + (α/κ²) I`` (the ridge system ``κ²H + αI``).
    X : array (n, d), optional
        Training inputs; required for ``init="leverage"``.
    sampling_alpha : float or "auto", default="auto"
        Passed to the leverage sampler (the λ at which the scores are computed; "auto" lets
        the sampler decide, a number fixes it).
    pool_size, leverage_method : optional
        Passed to the leverage sampler (see ``levrf.RandomFeatures``).
    random_state : int, numpy.random.Generator or None
        Seed of the weights and signs; ``None`` means seed 0. A NumPy generator gives one seed
        drawn from it (scikit-learn's convention); a ``torch.Generator`` is refused.
    dtype : {"float64", "float32"}
        Dtype of the weights. Inputs are cast to it (like levrf's estimators, unlike
        ``torch.nn.Linear``, which refuses a float32 input to a float64 layer).
    device : str
        ``"cpu"`` or a CUDA device that exists; inputs are moved to it.

    Attributes
    ----------
    weight : nn.Parameter (m, d)
        The trained first layer ``W``.
    sign : buffer (m,)
        ``a_r``.
    importance : buffer (m,)
        ``c_r``.
    leverage : tensor (m,) or None
        ``τ(w_r(0))`` reported by the leverage sampler.
    init_info : dict
        What the sampler reported.
    """

    #: number of trained weight matrices: the degree of positive homogeneity of f in W
    n_trained_layers = 1

    def __init__(
        self,
        in_features: int,
        width: int,
        init: str = "gaussian",
        kappa: float = 1.0,
        symmetric: bool = False,
        *,
        alpha: float | None = None,
        X=None,
        sampling_alpha="auto",
        pool_size: int | None = None,
        leverage_method: str = "auto",
        random_state=None,
        dtype: str = "float64",
        device: str = "cpu",
    ) -> None:
        super().__init__()
        d = check_positive_int(in_features, "in_features")
        m = check_positive_int(width, "width")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.kappa = check_positive(kappa, "kappa")
        if not isinstance(symmetric, bool):
            raise TypeError(f"symmetric must be a bool, got {type(symmetric).__name__}")
        if symmetric and m % 2:
            raise ValueError(f"width must be even when symmetric=True, got {m}")
        tdtype, tdevice = resolve_dtype(dtype), resolve_device(device)
        gen = as_generator(check_random_state(random_state))
        kernel = ReLUNTK(dtype=dtype, device=str(tdevice))
        n_draw = m // 2 if symmetric else m
        self.init, self.symmetric = init, symmetric
        self.leverage: torch.Tensor | None = None
        self.init_info: dict = {}
        if init == "gaussian":
            W = kernel.sample(n_draw, d, gen)
            c = torch.ones(n_draw, dtype=tdtype, device=tdevice)
        else:
            if alpha is None or X is None:
                raise ValueError("init='leverage' needs the training inputs X and the ridge parameter alpha")
            alpha = check_positive(alpha, "alpha")
            Xt = as_matrix(X, "X", dtype=tdtype, device=tdevice)
            check_n_features(Xt, d, "X")
            sample = draw_leverage(kernel, Xt, n_draw, alpha / self.kappa**2, gen,
                                   sampling_alpha=sampling_alpha, pool_size=pool_size,
                                   method=leverage_method)
            W, c = sample.weights, sample.importance
            self.leverage = None if sample.leverage is None else sample.leverage.to(tdtype)
            self.init_info = dict(sample.info)
        signs = torch.where(torch.rand(n_draw, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
        signs = signs.to(device=tdevice, dtype=tdtype)
        if symmetric:
            W, c, signs = torch.cat([W, W]), torch.cat([c, c]), torch.cat([signs, -signs])
            if self.leverage is not None:
                self.leverage = torch.cat([self.leverage, self.leverage])
        self.weight = nn.Parameter(W.to(device=tdevice, dtype=tdtype).clone())
        self.register_buffer("sign", signs)
        self.register_buffer("importance", c.to(device=tdevice, dtype=tdtype).clone())

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_weights(cls, weight, sign, importance=None, kappa: float = 1.0) -> TwoLayerReLU:
        """A network with given first-layer weights ``W`` (m, d), signs ``a`` (m,) and ``c`` (m,).

        The network takes the dtype of ``weight`` when it is a float32 or float64 tensor
        (float64 otherwise) and its device. Every entry must be finite, ``c`` > 0.
        """
        dtype = (weight.dtype if isinstance(weight, torch.Tensor) and weight.dtype in (torch.float32, torch.float64)
                 else torch.float64)
        W = as_matrix(weight, "weight", dtype=dtype)
        m, d = W.shape
        a = as_vector(sign, m, "sign (one entry per row of weight)", dtype=W.dtype, device=W.device)
        c = (torch.ones(m, dtype=W.dtype, device=W.device) if importance is None
             else as_vector(importance, m, "importance (one entry per row of weight)", dtype=W.dtype,
                            device=W.device))
        if bool((c <= 0).any()):
            raise ValueError("importance must be > 0 (c_r = sqrt(p/q) of each neuron)")
        net = cls(d, m, kappa=kappa, dtype=dtype_name(W.dtype),
                  device=str(W.device))
        with torch.no_grad():
            net.weight.copy_(W)
            net.sign.copy_(a)
            net.importance.copy_(c)
        return net

    # ----------------------------------------------------------------- computation
    @property
    def width(self) -> int:
        return self.weight.shape[0]

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    def output_weights(self) -> torch.Tensor:
        """``a_r c_r / sqrt(m)``: the fixed second layer, shape (m,)."""
        return self.sign * self.importance / math.sqrt(self.width)

    def forward(self, X) -> torch.Tensor:
        """``f(W, x_i)`` for each row of ``X`` (n, d), cast to the network's dtype: tensor (n,)."""
        X = network_input(X, self.in_features, self.weight)
        return torch.relu(X @ self.weight.T) @ self.output_weights()

    def activations(self, X) -> torch.Tensor:
        """Indicator matrix ``1[w_rᵀx_i ≥ 0]`` (n, m) for the current weights."""
        X = network_input(X, self.in_features, self.weight)
        return (X @ self.weight.T >= 0).to(X.dtype)

    def limit_kernel(self) -> ReLUNTK:
        """The infinite-width tangent kernel ``H^cts``."""
        return ReLUNTK(dtype=dtype_name(self.weight.dtype),
                       device=str(self.weight.device))

    def tangent_kernel(self, X: torch.Tensor, Z: torch.Tensor | None = None) -> torch.Tensor:
        """``H(t)`` in closed form: ``(X Zᵀ) ⊙ (S_X diag(c²) S_Zᵀ) / m``, shape (n, n')."""
        X = network_input(X, self.in_features, self.weight)
        Z = None if Z is None else network_input(Z, self.in_features, self.weight, name="Z")
        SX = self.activations(X)
        SZ = SX if Z is None else self.activations(Z)
        Z = X if Z is None else Z
        c2 = self.importance**2 / self.width
        return (X @ Z.T) * ((SX * c2) @ SZ.T)


def draw_leverage(kernel, X: torch.Tensor, m: int, alpha: float, gen: torch.Generator, *,
                  sampling_alpha="auto", pool_size=None, method="auto", batch_size=None):
    """Draw ``m`` weights from the ridge leverage distribution of ``kernel`` on ``X`` at ``alpha``."""
    from ..leverage.samplers import SAMPLERS, make_sampler

    if "leverage" not in SAMPLERS:
        raise ValueError("init='leverage' needs the 'leverage' sampler, which this levrf build lacks")
    sampler = make_sampler("leverage", alpha=alpha, sampling_alpha=sampling_alpha, pool_size=pool_size, method=method)
    return sampler.draw(kernel, X, m, gen)
