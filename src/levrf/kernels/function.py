"""User-defined kernels from a weight sampler and a feature function."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .base import Kernel


class FunctionKernel(Kernel):
    """A kernel given by the user's own ``p`` and ``φ``.

    Parameters
    ----------
    sample : callable ``(m, d, generator) -> Tensor (m, d1)``
        Draws ``m`` weights from ``p`` using the given ``torch.Generator`` (CPU).
    features : callable ``(X, W) -> Tensor (n, m, d2)``
        The feature vector φ(x_i, w_r) for float tensors ``X`` (n, d) and ``W`` (m, d1).
    exact : callable ``(X, Z) -> Tensor (n, n')``, optional
        The closed form, if known; ``kernel(X, Z)`` raises without it.
    feature_dim : int or callable ``d -> int``, optional
        ``d2``; found by evaluating ``features`` on one point when omitted.

    Notes
    -----
    A subclass can opt in to the leverage machinery's capabilities of :class:`levrf.Kernel`:
    ``gated_features`` with ``feature_gates``, ``p_is_standard_normal`` (the ``"surrogate"``
    sampler) and ``feature_norm_proposal`` (the ``"rejection"`` sampler). Without them those
    samplers refuse this kernel with a ``ValueError`` that says so.

    Examples
    --------
    The linear kernel ``xᵀz`` as an expectation (``w`` is unused, φ(x, w) = x / 1)::

        FunctionKernel(sample=lambda m, d, g: torch.zeros(m, 1, dtype=torch.float64),
                       features=lambda X, W: X[:, None, :].expand(-1, W.shape[0], -1),
                       exact=lambda X, Z: X @ Z.T)
    """

    def __init__(
        self,
        sample: Callable,
        features: Callable,
        exact: Callable | None = None,
        feature_dim: int | Callable | None = None,
        *,
        dtype: str = "float64",
        device: str = "cpu",
    ) -> None:
        for name, fn in (("sample", sample), ("features", features)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        if exact is not None and not callable(exact):
            raise TypeError(f"exact must be callable or None, got {type(exact).__name__}")
        super().__init__(dtype=dtype, device=device)
        self.sample_fn = sample
        self.features_fn = features
        self.exact_fn = exact
        self.feature_dim_ = feature_dim

    #: constructor parameter -> attribute (``sample``/``features`` are also method names)
    _ATTRIBUTES = {"sample": "sample_fn", "features": "features_fn", "exact": "exact_fn", "feature_dim": "feature_dim_"}

    def _param_names(self) -> tuple[str, ...]:
        return ("sample", "features", "exact", "feature_dim", *super()._param_names())

    def _param_attribute(self, name: str) -> str:
        return self._ATTRIBUTES.get(name, name)

    def __call__(self, X, Z=None) -> torch.Tensor:
        if self.exact_fn is None:
            raise NotImplementedError("this FunctionKernel was built without exact=; no closed form")
        return super().__call__(X, Z)

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        if self.exact_fn is None:  # reached through diag()
            raise NotImplementedError("this FunctionKernel was built without exact=; no closed form")
        return torch.as_tensor(self.exact_fn(X, Z), dtype=X.dtype, device=X.device)

    def feature_dim(self, d: int) -> int:
        if callable(self.feature_dim_):
            return int(self.feature_dim_(d))
        if self.feature_dim_ is not None:
            return int(self.feature_dim_)
        x = torch.zeros(1, d, dtype=self.torch_dtype, device=self.torch_device)
        return int(self._features(x, self.sample(1, d, 0)).shape[-1])

    def weight_dim(self, d: int) -> None:
        """User weights may live in a space of any dimension ``d1``."""
        return None

    def _sample(self, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
        W = torch.as_tensor(self.sample_fn(m, d, gen))
        if W.ndim != 2 or W.shape[0] != m:
            raise ValueError(f"sample must return an (m, d1) tensor with m={m}, got shape {tuple(W.shape)}")
        return W

    def _features(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        F = torch.as_tensor(self.features_fn(X, W), dtype=X.dtype, device=X.device)
        if F.ndim != 3 or F.shape[:2] != (X.shape[0], W.shape[0]):
            raise ValueError(
                f"features must return an (n, m, d2) tensor with n={X.shape[0]}, m={W.shape[0]}, "
                f"got shape {tuple(F.shape)}"
            )
        return F

    def features(self, X, W) -> torch.Tensor:
        # user weights may live in a different space than X (d1 != d): skip the column check
        X = self._matrix(X, "X")
        W = torch.as_tensor(W, dtype=self.torch_dtype, device=self.torch_device)
        return self._features(X, W)
