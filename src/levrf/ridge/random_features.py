"""Random-feature ridge regression in the primal: ``β = (ΨᵀΨ + λI)⁻¹ ΨᵀY``, ``f(z) = ψ(z)ᵀ β``.

Ψ (n × D, D = m·d2) is never stored: ``ΨᵀΨ`` and ``ΨᵀY`` are accumulated over row chunks of
the feature map, then the D × D system is solved by a Cholesky factorization. Fit costs
O(n D²) time and O(D² + chunk) memory; prediction O(D) per row.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ..features import RandomFeatures
from ._base import check_finite, check_ridge_params, to_tensor
from .classification import RidgeClassifierMixin
from .regression import RidgeRegressorMixin
from .solvers import NormalEquations, ridge_solve


def accumulate_normal_equations(features: RandomFeatures, X: torch.Tensor, Y: torch.Tensor) -> NormalEquations:
    """Stream ``ΨᵀΨ`` and ``ΨᵀY`` over the row chunks of ``features.iter_chunks(X)``."""
    acc = NormalEquations(features.n_output_features_, Y.shape[1], dtype=X.dtype, device=X.device)
    for start, Psi in features.iter_chunks(X):
        acc.add(Psi, Y[start : start + Psi.shape[0]])
    return acc


def predict_linear(features: RandomFeatures, X: torch.Tensor, coef: torch.Tensor) -> np.ndarray:
    """``Ψ(X) β`` computed chunk by chunk, as a NumPy (n, k) array."""
    out = torch.empty(X.shape[0], coef.shape[1], dtype=X.dtype, device=X.device)
    for start, Psi in features.iter_chunks(X):
        out[start : start + Psi.shape[0]] = Psi @ coef
    return check_finite(out, "predictions").cpu().numpy()


class FeatureRidgeParams(BaseEstimator):
    """Constructor parameters of the random-feature ridge estimators and their feature map."""

    def __init__(
        self,
        kernel=None,
        n_features: int = 100,
        sampling: str = "gaussian",
        alpha: float = 1.0,
        sampling_alpha="auto",
        pool_size: int | None = None,
        leverage_method: str = "exact",
        batch_size: int | None = None,
        dtype: str = "float64",
        device: str = "cpu",
        random_state=None,
    ) -> None:
        self.kernel = kernel
        self.n_features = n_features
        self.sampling = sampling
        self.alpha = alpha
        self.sampling_alpha = sampling_alpha
        self.pool_size = pool_size
        self.leverage_method = leverage_method
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        check_ridge_params(self)

    def _random_features(self, alpha: float) -> RandomFeatures:
        """An unfitted RandomFeatures with this estimator's sampling parameters."""
        return RandomFeatures(
            kernel=self.kernel,
            n_features=self.n_features,
            sampling=self.sampling,
            alpha=alpha,
            sampling_alpha=self.sampling_alpha,
            pool_size=self.pool_size,
            leverage_method=self.leverage_method,
            batch_size=self.batch_size,
            dtype=self.dtype,
            device=self.device,
            random_state=self.random_state,
        )

    def _decision_arrays(self, X: np.ndarray) -> np.ndarray:
        Xt = to_tensor(X, self.coef_.dtype, self.coef_.device)
        return predict_linear(self.features_, Xt, self.coef_)


class _RandomFeatureRidgeCore(FeatureRidgeParams):
    """Fit of the primal random-feature ridge, shared by the regressor and the classifier."""

    def _fit_arrays(self, X: np.ndarray, Y: np.ndarray) -> None:
        dtype, device = check_ridge_params(self)
        self.features_ = self._random_features(float(self.alpha)).fit(X)
        acc = accumulate_normal_equations(
            self.features_, to_tensor(X, dtype, device), to_tensor(Y, dtype, device)
        )
        G = check_finite(acc.gram(), "random features Psi^T Psi")
        R = check_finite(acc.R, "products Psi^T y")
        coef, self.jitter_ = ridge_solve(G, R, float(self.alpha))
        self.coef_ = check_finite(coef, "ridge coefficients")


class RandomFeatureRidge(RidgeRegressorMixin, RegressorMixin, _RandomFeatureRidgeCore):
    """Kernel ridge regression with random features, solved in the primal by streaming.

    Draws ``m = n_features`` weights with :class:`levrf.RandomFeatures` (any sampler:
    ``"gaussian"`` from ``p``, or a leverage sampler), accumulates ``G = ΨᵀΨ`` and ``ΨᵀY`` over
    row chunks (a BLAS ``syrk`` on the CPU, ``addmm`` on the GPU) and solves
    ``(G + αI) β = ΨᵀY`` by a Cholesky factorization of the D × D matrix (D = m·d2; with a
    documented jitter retry, see :func:`levrf.ridge.solvers.cholesky_solve`). No intercept.

    Parameters
    ----------
    kernel : levrf kernel, default=None
        Any kernel with random features; ``None`` means ``GaussianKernel(bandwidth=1.0)``.
    n_features : int, default=100
        Number of random weights ``m``; Ψ has ``m·d2`` columns.
    sampling : str, default="gaussian"
        Weight sampler (see ``levrf.leverage.SAMPLERS``).
    alpha : float, default=1.0
        Ridge parameter λ > 0 of the solve, also passed to leverage samplers.
    sampling_alpha : float or "auto", default="auto"
        λ at which leverage scores are computed (leverage samplers only).
    pool_size : int, optional
        Candidate weights for pool-based leverage samplers.
    leverage_method : str, default="exact"
        How leverage samplers compute their scores.
    batch_size : int, optional
        Rows per chunk of Ψ (fit and predict); by default chosen from a 128 MiB budget.
    dtype : {"float64", "float32"}, default="float64"
    device : str, default="cpu"
        ``"cuda"`` computes on the GPU; predictions are returned as NumPy arrays.
    random_state : int, torch.Generator or None, default=None
        Seed of the weights (``None`` means seed 0).

    Attributes
    ----------
    features_ : levrf.RandomFeatures
        The fitted feature map (weights, importance weights, sampling information).
    coef_ : torch.Tensor of shape (D, n_targets)
        β.
    jitter_ : float
        Diagonal jitter that had to be added to ``ΨᵀΨ + αI`` (0.0 normally).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np, levrf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3)); y = np.sin(X[:, 0])
    >>> model = levrf.RandomFeatureRidge(levrf.GaussianKernel(2.0), n_features=200, alpha=1e-2)
    >>> bool(model.fit(X, y).score(X, y) > 0.99)
    True
    """


class RandomFeatureRidgeClassifier(RidgeClassifierMixin, ClassifierMixin, _RandomFeatureRidgeCore):
    """Random-feature ridge classification: one-hot ±1 targets, argmax prediction.

    Same parameters and fit as :class:`RandomFeatureRidge`, applied to the ±1 encoding of the
    labels (one column for two classes, one per class otherwise).

    Parameters
    ----------
    kernel : levrf kernel, default=None
    n_features : int, default=100
    sampling : str, default="gaussian"
    alpha : float, default=1.0
    sampling_alpha : float or "auto", default="auto"
    pool_size : int, optional
    leverage_method : str, default="exact"
    batch_size : int, optional
    dtype : {"float64", "float32"}, default="float64"
    device : str, default="cpu"
    random_state : int, torch.Generator or None, default=None

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    features_ : levrf.RandomFeatures
    coef_ : torch.Tensor of shape (D, 1 or n_classes)
    jitter_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    """
