"""Full-batch gradient descent on the regularized objective, tracked against NTK ridge regression.

    minimise  ½‖Y − κ f(θ, X)‖² + ½ (α / (L+1)) ‖θ − θ_ref‖²

``θ_ref = 0`` (``penalty="origin"``, the paper's Eq. 6/10) or ``θ_ref = θ(0)`` (``penalty="init"``).
``L + 1`` is the number of trained weight matrices (1 for :class:`TwoLayerReLU`), the degree of
positive homogeneity of f, so that the training predictions ``u = κ f(θ(t), X)`` follow
``du/dt = κ²H(t)(Y − u) − α(u − u_ref)`` with ``u_ref = 0`` for the origin penalty (Eq. 15–16).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from .._validation import as_matrix, check_positive, check_positive_int
from ..config import get_budget
from ..kernels import Kernel
from ..progress import progress_bar
from .inputs import values_checked
from .ntk import as_targets, dynamic_kernel, net_inputs, ntk_ridge
from .two_layer import TwoLayerReLU

PENALTIES = ("origin", "init")


@dataclasses.dataclass
class History:
    """What :func:`train_regularized` recorded, one entry per recorded step.

    Gaps are Euclidean norms over the training (test) inputs; ``relative_*`` divide by ``‖u*‖``
    (``‖u*_test‖``). Kernel norms are spectral norms; ``weight_drift`` is the largest change of
    one neuron's incoming weight vector, ``max_r ‖w_r(t) − w_r(0)‖`` (over all layers).
    """

    step: list[int] = dataclasses.field(default_factory=list)
    time: list[float] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)
    train_gap: list[float] = dataclasses.field(default_factory=list)
    relative_train_gap: list[float] = dataclasses.field(default_factory=list)
    test_gap: list[float] = dataclasses.field(default_factory=list)
    relative_test_gap: list[float] = dataclasses.field(default_factory=list)
    kernel_drift: list[float] = dataclasses.field(default_factory=list)
    kernel_error: list[float] = dataclasses.field(default_factory=list)
    weight_drift: list[float] = dataclasses.field(default_factory=list)
    lr: float = math.nan
    alpha: float = math.nan
    kappa: float = math.nan
    penalty: str = "origin"
    steps: int = 0
    converged: bool = False
    #: final predictions u_nn = κ f(θ, X) and their NTK ridge twins
    u_train: torch.Tensor | None = None
    u_test: torch.Tensor | None = None
    u_star: torch.Tensor | None = None
    u_star_test: torch.Tensor | None = None

    def to_dict(self) -> dict:
        """Plain Python numbers and lists (tensors become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, torch.Tensor) else v
        return out


def stopping_time(epsilon: float, lambda0: float, kappa: float = 1.0, alpha: float = 0.0) -> float:
    """The theorem's training time ``T = ln(1/ε) / (κ²Λ0 + α)``.

    The NTK ridge flow ``du/dt = κ²H(Y − u) − αu`` contracts by ``e^{−(κ²Λ0+α)t}``, with
    ``Λ0 = λ_min(H^cts)``; at ``T`` it is within ``ε ‖u(0) − u*‖`` of ``u*``. GD with step η needs
    ``ceil(T/η)`` steps (each step contracts at least as much as ``e^{−η(κ²Λ0+α)}``).
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 < epsilon < 1:
        raise ValueError(f"epsilon must lie strictly between 0 and 1, got {epsilon!r}")
    lambda0 = check_positive(lambda0, "lambda0", allow_zero=True)
    kappa = check_positive(kappa, "kappa")
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    rate = kappa**2 * lambda0 + alpha
    if rate <= 0:
        raise ValueError("kappa²·lambda0 + alpha must be > 0 for a finite stopping time")
    return math.log(1.0 / epsilon) / rate


def default_learning_rate(net: nn.Module, X, alpha: float, kappa: float | None = None) -> float:
    """``1 / (κ² λ_max(H(0)) + α)`` for the current weights of ``net``."""
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    kappa = _kappa(net, kappa)
    H = dynamic_kernel(net, X)
    lam = float(torch.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    return 1.0 / (kappa**2 * lam + alpha)


def _kappa(net, kappa) -> float:
    if kappa is None:
        kappa = getattr(net, "kappa", 1.0)
    return check_positive(kappa, "kappa")


def _spectral(A: torch.Tensor) -> float:
    return float(torch.linalg.eigvalsh(0.5 * (A + A.T)).abs().max())


class _TwoLayerEngine:
    """Closed-form forward and gradient of :class:`TwoLayerReLU`: the two matmuls of a step.

    Per step: ``f = relu(X Wᵀ) v`` and ``∂/∂W ½‖Y − κf‖² = −κ diag(v) Sᵀ diag(Y − u) X`` with
    ``v = a c/√m`` and ``S = 1[X Wᵀ > 0]``. The (n, m) products are formed in neuron blocks of a
    few MB that stay in cache; only the activation pattern S is kept whole, as booleans. A
    fresh (n, m) float tensor per step would cost more in memory traffic and page faults than
    the arithmetic on it. With ``linearized`` the pattern is frozen at its initial value.
    """

    def __init__(self, net: TwoLayerReLU, X: torch.Tensor, X_test, linearized: bool) -> None:
        self.net, self.X, self.W = net, X, net.weight
        self.params = [net.weight]
        n, m = X.shape[0], net.width
        self.frozen = net.activations(X).bool() if linearized else None
        self.frozen_test = None if (X_test is None or not linearized) else net.activations(X_test).bool()
        self._mask = self.frozen if linearized else torch.empty((n, m), dtype=torch.bool, device=X.device)
        self._P = self._buffer(n)
        self._S = torch.empty_like(self._P)
        self._G = torch.empty((X.shape[1], m), dtype=X.dtype, device=X.device)

    def _buffer(self, n: int) -> torch.Tensor:
        itemsize = torch.empty((), dtype=self.X.dtype).element_size()
        # bytes of one (n, block) float buffer: the train_block_bytes budget of levrf.config
        block = max(256, get_budget("train_block_bytes") // (itemsize * max(n, 1)))
        return torch.empty((n, min(block, self.net.width)), dtype=self.X.dtype, device=self.X.device)

    def _blocks(self, size: int):
        m = self.net.width
        return ((s, min(s + size, m)) for s in range(0, m, size))

    def _forward(self, X: torch.Tensor, frozen, mask, P: torch.Tensor) -> torch.Tensor:
        """``f(W, X)``; writes the activation pattern into ``mask`` unless it is ``frozen``."""
        v = self.net.output_weights()
        f = torch.zeros(X.shape[0], dtype=X.dtype, device=X.device)
        for s, e in self._blocks(P.shape[1]):
            p = torch.matmul(X, self.W[s:e].T, out=P[:, : e - s])
            if frozen is None:
                p.clamp_min_(0.0)
                if mask is not None:
                    torch.gt(p, 0.0, out=mask[:, s:e])  # 1[wᵀx > 0]; ties have probability 0
            else:
                p.mul_(frozen[:, s:e])
            f.addmv_(p, v[s:e])
        return f

    def data_gradient(self, Y: torch.Tensor, kappa: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.no_grad():
            u = kappa * self._forward(self.X, self.frozen, self._mask, self._P)
            Z = ((Y - u)[:, None] * self.X).T
            for s, e in self._blocks(self._S.shape[1]):
                S = self._S[:, : e - s]
                S.copy_(self._mask[:, s:e])
                torch.matmul(Z, S, out=self._G[:, s:e])
            G = self._G.T * (-kappa * self.net.output_weights())[:, None]
        return u, [G]

    def predict(self, X: torch.Tensor, test: bool) -> torch.Tensor:
        with torch.no_grad():
            return self._forward(X, self.frozen_test if test else self.frozen, None, self._buffer(X.shape[0]))


class _AutogradEngine:
    """Any module with (n,) output: gradients by autograd, no loop over examples or neurons."""

    def __init__(self, net: nn.Module, X: torch.Tensor) -> None:
        self.net, self.X = net, X
        self.params = [p for p in net.parameters() if p.requires_grad]

    def data_gradient(self, Y: torch.Tensor, kappa: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.enable_grad(), values_checked():  # X was checked once, before the first step
            u = kappa * self.net(self.X)
            loss = 0.5 * ((Y - u) ** 2).sum()
            grads = torch.autograd.grad(loss, self.params)
        return u.detach(), list(grads)

    def predict(self, X: torch.Tensor, test: bool) -> torch.Tensor:
        with torch.no_grad(), values_checked():
            return self.net(X)


def train_regularized(
    net: nn.Module,
    X,
    y,
    alpha: float,
    kappa: float | None = None,
    steps: int | None = None,
    tol: float | None = None,
    lr: float | None = None,
    penalty: str = "origin",
    X_test=None,
    *,
    kernel: Kernel | None = None,
    callback: Callable[[int, nn.Module, dict], bool | None] | None = None,
    record_every: int | None = None,
    track_kernel: bool = True,
    linearized: bool = False,
    max_steps: int = 200_000,
    quiet: bool = False,
) -> History:
    """Train ``net`` in place by full-batch gradient descent on the regularized square loss.

    Parameters
    ----------
    net : TwoLayerReLU, DeepReLUNet or any module mapping (n, d) to (n,)
        Positively homogeneous of degree ``net.n_trained_layers`` (default 1) in its parameters.
    X : array (n, d)
        Training inputs, cast to the dtype and device of ``net``'s parameters; ``d`` must be
        ``net.in_features`` when the net has that attribute.
    y : array (n,)
        Targets ``Y``.
    alpha : float > 0
        Ridge parameter α; the penalty weight is ``α / net.n_trained_layers``.
    kappa : float > 0, optional
        Output scale κ; defaults to ``net.kappa``.
    steps : int, optional
        Number of GD steps; with ``tol`` also given, the maximum number.
    tol : float, optional
        Stop once the objective changes by at most ``tol`` (relative) between two consecutive
        records (at most ``steps`` or ``max_steps`` steps). GD on a ReLU network jitters at a
        small floor as activation patterns flip, so very small tolerances may not be reached;
        a number of steps from :func:`stopping_time` is the reproducible alternative.
    lr : float, optional
        Step size; default ``1 / (κ²λ_max(H(0)) + α)``.
    penalty : {"origin", "init"}
        Pull toward 0 (the paper's objective) or toward the initial weights. With ``"init"``
        the fixed point is ``u*`` only if the initial output is 0 (``symmetric=True``).
    X_test : array (n', d), optional
        Test inputs, to record ``‖u_nn,test − u*_test‖``.
    kernel : levrf kernel, optional
        ``H^cts`` for ``u*`` and the kernel error; default ``net.limit_kernel()``.
    callback : callable(step, net, record) -> bool, optional
        Called at each recorded step with that step's record (a dict of the recorded values
        plus ``"u"``, the training predictions); returning True stops.
    record_every : int, optional
        Record every this many steps (and always at the first and last step); default
        ``steps // 50`` or 100.
    track_kernel : bool, default=True
        Record ``‖H(t) − H(0)‖₂`` and ``‖H(t) − H^cts‖₂`` (costs one tangent kernel per record).
    linearized : bool, default=False
        Freeze the activation patterns at their initial values (:class:`TwoLayerReLU` only): the
        network becomes linear in W with tangent kernel fixed at ``H(0)``.
    max_steps : int, default=200000
        Cap when only ``tol`` is given.
    quiet : bool, default=False
        Hide the progress bar (a :mod:`levrf.progress` bar, shown unless ``quiet``).

    Returns
    -------
    History
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    alpha = check_positive(alpha, "alpha")
    kappa = _kappa(net, kappa)
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    if steps is None and tol is None:
        raise ValueError("give steps (number of GD steps) or tol (relative change of the objective), or both")
    steps = check_positive_int(steps, "steps") if steps is not None else check_positive_int(max_steps, "max_steps")
    if tol is not None:
        tol = check_positive(tol, "tol")
    if linearized and not isinstance(net, TwoLayerReLU):
        raise ValueError("linearized=True is available for TwoLayerReLU only")
    if next(net.parameters(), None) is None:
        raise ValueError("net has no parameters to train")
    X, _ = net_inputs(net, X)
    dtype, device = X.dtype, X.device
    Y = as_targets(y, X.shape[0], dtype=dtype, device=device)
    if Y.ndim != 1:
        raise ValueError(f"y must be one-dimensional (n,), got shape {tuple(Y.shape)}")
    Xt = None
    if X_test is not None:
        Xt = as_matrix(X_test, "X_test", dtype=dtype, device=device)
        if Xt.shape[1] != X.shape[1]:
            raise ValueError(f"X_test has {Xt.shape[1]} columns but X has {X.shape[1]}")
    if kernel is None:
        if not hasattr(net, "limit_kernel"):
            raise ValueError("net has no limit_kernel(); pass kernel= (its infinite-width tangent kernel)")
        kernel = net.limit_kernel()
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a levrf kernel, got {kernel!r}")
    if record_every is None:
        record_every = max(1, steps // 50) if tol is None else 100
    record_every = check_positive_int(record_every, "record_every")

    engine = (_TwoLayerEngine(net, X, Xt, linearized) if isinstance(net, TwoLayerReLU)
              else _AutogradEngine(net, X))
    params = engine.params
    refs = [p.detach().clone() for p in params]
    anchors = [torch.zeros_like(p) for p in params] if penalty == "origin" else refs
    decay = alpha / getattr(net, "n_trained_layers", 1)

    # the NTK ridge twin
    twin = ntk_ridge(X, Y, alpha, kappa, X_test=Xt, kernel=kernel)
    u_star = twin.train.to(device=device, dtype=dtype)
    u_star_test = None if twin.test is None else twin.test.to(device=device, dtype=dtype)
    H_cts = kernel(X).to(device=device, dtype=dtype) if track_kernel else None
    H0 = _tangent(net, engine, X) if (track_kernel or lr is None) else None
    if lr is None:
        lr = 1.0 / (kappa**2 * float(torch.linalg.eigvalsh(0.5 * (H0 + H0.T))[-1]) + alpha)
    lr = check_positive(lr, "lr")

    hist = History(lr=lr, alpha=alpha, kappa=kappa, penalty=penalty)
    star_norm = float(u_star.norm())
    star_test_norm = None if u_star_test is None else float(u_star_test.norm())

    def record(step: int, u: torch.Tensor) -> dict:
        with torch.no_grad():
            pen = sum(float(((p - a) ** 2).sum()) for p, a in zip(params, anchors, strict=True))
            loss = 0.5 * float(((Y - u) ** 2).sum()) + 0.5 * decay * pen
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at step {step} (loss {loss}); use a smaller lr (was {lr:g})")
            rec = {"step": step, "time": step * lr, "loss": loss}
            gap = float((u - u_star).norm())
            rec.update(train_gap=gap, relative_train_gap=gap / star_norm if star_norm > 0 else math.nan)
            if Xt is not None:
                ut = kappa * engine.predict(Xt, test=True)
                tgap = float((ut - u_star_test).norm())
                rec.update(test_gap=tgap, relative_test_gap=tgap / star_test_norm if star_test_norm else math.nan)
            if track_kernel:
                Ht = _tangent(net, engine, X)
                rec.update(kernel_drift=_spectral(Ht - H0), kernel_error=_spectral(Ht - H_cts))
            rec["weight_drift"] = max(_max_row_change(p, r) for p, r in zip(params, refs, strict=True))
        for key, value in rec.items():
            getattr(hist, key).append(value)
        return rec

    bar = progress_bar(steps, "train_regularized", min_items=1, show=not quiet)
    step = 0
    try:
        while True:
            u, grads = engine.data_gradient(Y, kappa)
            done = step >= steps
            if step % record_every == 0 or done:
                rec = record(step, u)
                if tol is not None and len(hist.loss) >= 2 and not done:
                    if abs(hist.loss[-2] - hist.loss[-1]) <= tol * abs(hist.loss[-1]):
                        hist.converged = done = True
                if callback is not None and callback(step, net, {**rec, "u": u}):
                    done = True
            if done:
                break
            with torch.no_grad():
                for p, g, a in zip(params, grads, anchors, strict=True):
                    p.sub_(lr * (g + decay * (p - a)))
            step += 1
            bar.update(1)
    finally:
        bar.close()
    hist.steps = step
    hist.u_train = u.detach().clone()
    hist.u_star, hist.u_star_test = u_star, u_star_test
    if Xt is not None:
        hist.u_test = kappa * engine.predict(Xt, test=True).detach().clone()
    return hist


def _tangent(net: nn.Module, engine, X: torch.Tensor) -> torch.Tensor:
    if isinstance(engine, _TwoLayerEngine) and engine.frozen is not None:
        S0 = engine.frozen.to(X.dtype)
        c2 = net.importance**2 / net.width
        return (X @ X.T) * ((S0 * c2) @ S0.T)
    return dynamic_kernel(net, X)


def _max_row_change(p: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest norm of a row (one neuron's incoming weights) of ``p − ref``."""
    diff = (p - ref).reshape(-1, p.shape[-1])
    return float(diff.norm(dim=1).max())
