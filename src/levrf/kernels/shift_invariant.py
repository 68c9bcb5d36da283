"""Shift-invariant kernels: Gaussian, Laplacian, Matérn.

By Bochner's theorem ``k(x − z) = E_{w~p}[cos(wᵀ(x − z))]`` with ``p`` the kernel's spectral
density, and ``cos(wᵀx − wᵀz) = cos(wᵀx)cos(wᵀz) + sin(wᵀx)sin(wᵀz)``, so
``φ(x, w) = [cos(wᵀx), sin(wᵀx)]`` (d2 = 2) for all three; only ``p`` differs.

The closed forms are exact at any scale: distances are computed from rows scaled by a power of
two and centred (see :func:`levrf.kernels.base.scaled_sq_distances`), so inputs of norm 1e8
give the same K as the same points near the origin.
"""

from __future__ import annotations

import math
import numbers

import torch
from scipy.special import gammaincinv

from .._validation import numpy_to_torch
from .base import DistanceColumns, Kernel, scaled_l1_distances, scaled_sq_distances, standard_normal
from .proposals import ConstantNormProposal

#: bandwidths σ for which σ² and 1/σ² are both normal float64 numbers: [2⁻⁵¹¹, 2⁵¹¹] ≈
#: [1.49e-154, 6.70e153]. Outside it 1/σ² overflows to inf (σ = 1e-300: 0·inf = NaN where x = z)
#: or σ² overflows (σ = 1e200), and the weights w ~ p, of size ~1/σ, stop being representable.
BANDWIDTH_RANGE = (2.0**-511, 2.0**511)


def check_bandwidth(value, name: str = "bandwidth") -> float:
    """A real number in :data:`BANDWIDTH_RANGE`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    low, high = BANDWIDTH_RANGE
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(
            f"{name} must be a finite number in [{low:.6g}, {high:.6g}] (so that {name}² and "
            f"1/{name}² are normal float64 numbers), got {value!r}"
        )
    return value


def check_bandwidth_parameter(value, name: str = "bandwidth") -> float | str:
    """``"auto"`` or a real number in :data:`BANDWIDTH_RANGE` (what the kernels' constructors take)."""
    if isinstance(value, str):
        if value == "auto":
            return value
        raise TypeError(f"{name} must be 'auto' or a real number, got the string {value!r}")
    return check_bandwidth(value, name)


def median_pairwise(distances: torch.Tensor) -> float:
    """The median of ``distances[i, j]`` over the pairs i < j (float64).

    The median of the nonzero pairs where more than half are 0 (duplicated rows, a column of
    few values), and 1 when every pair is 0 (a single row, constant data): never 0.
    """
    n = distances.shape[0]
    i, j = torch.triu_indices(n, n, offset=1, device=distances.device)
    pairs = distances[i, j].to(torch.float64)
    median = _median(pairs)
    if median == 0.0:
        positive = pairs[pairs > 0]
        median = _median(positive) if positive.numel() else 1.0
    return median


def _median(values: torch.Tensor) -> float:
    """The median, the mean of the two middle values for an even count (``torch.median`` takes
    the lower one); 0 for no values."""
    if values.numel() == 0:
        return 0.0
    ordered = values.sort().values
    half = ordered.numel() // 2
    return float(ordered[half]) if ordered.numel() % 2 else 0.5 * (float(ordered[half - 1]) + float(ordered[half]))


def _largest_row_norm(A: torch.Tensor) -> float:
    """max_i ‖a_i‖ without overflowing the squares (rows scaled by the largest |entry| first)."""
    A = A.detach()  # a check, not part of the graph (the gradient path calls it too)
    largest = float(A.abs().max())
    if largest == 0.0 or not math.isfinite(largest):
        return largest
    return float((A / largest).norm(dim=1).max()) * largest


def check_projection(X: torch.Tensor, W: torch.Tensor, proj: torch.Tensor) -> None:
    """Refuse an overflowed ``X @ W.T`` (its cos/sin would be NaN) with a message that says why.

    Cheap in the usual case: ``|xᵀw| ≤ ‖x‖‖w‖`` (Cauchy–Schwarz), so only when the product of the
    largest norms nears the dtype's maximum is ``proj`` itself scanned.
    """
    x_norm, w_norm = _largest_row_norm(X), _largest_row_norm(W)
    if x_norm * w_norm < 0.5 * torch.finfo(proj.dtype).max or bool(torch.isfinite(proj.detach()).all()):
        return
    raise ValueError(
        f"X @ W.T overflows {proj.dtype}: rows of X of norm up to {x_norm:.3g} times weights of norm up "
        f"to {w_norm:.3g}; rescale X (the kernel depends only on differences: centre it) or use a "
        "larger bandwidth"
    )


class ShiftInvariantKernel(Kernel):
    """Common feature map of the cos/sin random Fourier features.

    Parameters
    ----------
    bandwidth : "auto" or float in [2⁻⁵¹¹, 2⁵¹¹] ≈ [1.49e-154, 6.70e153], default="auto"
        Length scale σ; the range keeps σ² and 1/σ² normal float64 numbers. ``"auto"``: the
        median heuristic, σ = ``AUTO_FACTOR`` × the median pairwise distance (L1 for the
        Laplacian, L2 otherwise) of ≤ 1,000 training rows (a seeded subsample), measured by the
        estimators in ``fit`` (their ``bandwidth_``), by :meth:`resolve` and by ``kernel(X, Z)``
        (from ``X``); ``sample`` and ``features`` need a number and raise ``ValueError``. See
        ``docs/ridge.md`` for the measurement behind the rule.

    Notes
    -----
    The random features ``cos(wᵀx), sin(wᵀx)`` are ill-conditioned far from the origin:
    ``wᵀx`` is rounded by about ``eps·‖w‖‖x‖``, an absolute error in the phase, so inputs of
    norm 1e8 at unit bandwidth keep only ~8 digits of each feature (the closed form keeps all
    of them). The features stay finite and bounded by 1; centre the data first (K does not
    change) when its norm is far above its spread. An overflowing ``X @ W.T`` is refused.
    """

    #: σ = AUTO_FACTOR × the median pairwise distance for ``bandwidth="auto"``
    AUTO_FACTOR: float = 1.0
    #: the distance whose median ``"auto"`` takes: ``"l2"`` or ``"l1"``
    AUTO_DISTANCE: str = "l2"

    def __init__(self, bandwidth: float | str = "auto", *, dtype: str = "float64", device: str = "cpu") -> None:
        super().__init__(dtype=dtype, device=device)
        self.bandwidth = check_bandwidth_parameter(bandwidth, "bandwidth")

    def _param_names(self) -> tuple[str, ...]:
        return ("bandwidth", *super()._param_names())

    @property
    def is_resolved(self) -> bool:
        return self.bandwidth != "auto"

    @property
    def length_scale(self) -> float:
        """σ as a number (a ``ValueError`` while the bandwidth is ``"auto"``)."""
        self._require_resolved()
        return self.bandwidth

    def _resolve(self, S: torch.Tensor) -> Kernel:
        S = S.to(torch.float64)
        if self.AUTO_DISTANCE == "l1":
            distances = scaled_l1_distances(S, S, 1.0)
        else:
            distances = scaled_sq_distances(S, S, 1.0).sqrt_()
        low, high = BANDWIDTH_RANGE
        sigma = min(max(self.AUTO_FACTOR * median_pairwise(distances), low), high)
        return type(self)(**{**self.get_params(), "bandwidth": sigma})

    def feature_dim(self, d: int) -> int:
        return 2

    def _features(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        proj = X @ W.T
        check_projection(X, W, proj)
        return torch.stack((torch.cos(proj), torch.sin(proj)), dim=-1)

    def _scaled_features(
        self, X: torch.Tensor, W: torch.Tensor, scale: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        # cos and sin are computed contiguously (a strided out= defeats their vectorized
        # kernels: 1.5× slower) and scaled on their way into the interleaved slots, which halves
        # the memory traffic of stack-then-multiply
        if torch.is_grad_enabled() and (X.requires_grad or W.requires_grad or scale.requires_grad):
            return super()._scaled_features(X, W, scale)  # out= does not record gradients
        proj = X @ W.T
        check_projection(X, W, proj)
        if out is None:
            out = torch.empty((*proj.shape, 2), dtype=proj.dtype, device=proj.device)
        else:
            out = out.view(*proj.shape, 2)
        torch.mul(torch.cos(proj), scale, out=out[..., 0])
        torch.mul(proj.sin_(), scale, out=out[..., 1])
        return out.view(X.shape[0], -1)

    def diag(self, X) -> torch.Tensor:
        X = self._matrix(X, "X")
        return torch.ones(X.shape[0], dtype=X.dtype, device=X.device)

    def feature_norm_proposal(self, X: torch.Tensor) -> ConstantNormProposal:
        """``‖φ(x, w)‖² = cos² + sin² = 1``: ``‖Φ(w)‖_F² = n`` for every w, so ``q₀ = p``."""
        return ConstantNormProposal(self, X)


class GaussianKernel(ShiftInvariantKernel):
    """``K(x, z) = exp(-‖x − z‖² / 2σ²)``; ``p = N(0, σ⁻² I)``.

    Equals scikit-learn's ``rbf_kernel`` with ``gamma = 1 / (2σ²)``.
    """

    @property
    def compute_block_bytes(self) -> int:
        # computed in place (one GEMM, three passes, no block-sized temporary), the Gaussian pays
        # torch's fixed cost per operation on small blocks: 8 MiB blocks took 0.63–0.75× the time
        # of 2 MiB ones at 512–16,384 columns (a reused output; development run, 2-core machine)
        return 4 * super().compute_block_bytes

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        return scaled_sq_distances(X, Z, self.length_scale, factor=-0.5).exp_()

    def prepare(self, Z: torch.Tensor) -> DistanceColumns:
        return DistanceColumns(Z)

    def _exact_into(self, X: torch.Tensor, Z: torch.Tensor, out: torch.Tensor,
                    prepared: DistanceColumns | None = None) -> None:
        scaled_sq_distances(X, Z, self.length_scale, out=out, factor=-0.5, columns=prepared).exp_()

    def _sample(self, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
        return standard_normal((m, d), gen) / self.length_scale

    def uniform_dim(self, d: int) -> int:
        return d

    def _from_uniform(self, U: torch.Tensor, d: int) -> torch.Tensor:
        return torch.special.ndtri(U) / self.length_scale


class LaplacianKernel(ShiftInvariantKernel):
    """``K(x, z) = exp(-‖x − z‖₁ / σ)`` (L1 distance, as scikit-learn's ``laplacian_kernel``
    with ``gamma = 1/σ``); ``p`` = product of Cauchy(0, 1/σ) coordinates."""

    AUTO_DISTANCE = "l1"

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        return scaled_l1_distances(X, Z, self.length_scale).neg_().exp_()

    def _sample(self, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand((m, d), generator=gen, dtype=torch.float64, device=gen.device)
        return torch.tan(math.pi * (u - 0.5)) / self.length_scale

    def uniform_dim(self, d: int) -> int:
        return d

    def _from_uniform(self, U: torch.Tensor, d: int) -> torch.Tensor:
        return torch.tan(math.pi * (U - 0.5)) / self.length_scale


#: s = √(2ν)·‖x − z‖/σ beyond which the Matérn kernel is 0 in float64 and float32
_FAR = 1e4


class MaternKernel(ShiftInvariantKernel):
    """Matérn kernel with smoothness ``nu`` ∈ {0.5, 1.5, 2.5} and length scale ``bandwidth``.

    Same convention as ``sklearn.gaussian_process.kernels.Matern(length_scale=bandwidth, nu=nu)``:
    with ``r = ‖x − z‖₂ / σ``, ν=0.5: ``exp(−r)``; ν=1.5: ``(1 + √3 r) exp(−√3 r)``;
    ν=2.5: ``(1 + √5 r + 5r²/3) exp(−√5 r)``. Its spectral density ``p`` is a multivariate
    t distribution with 2ν degrees of freedom and scale ``1/σ``: ``w = g / (σ √(u / 2ν))`` with
    ``g ~ N(0, I)`` and ``u ~ χ²_{2ν}``.
    """

    SUPPORTED_NU = (0.5, 1.5, 2.5)

    def __init__(
        self, nu: float = 1.5, bandwidth: float | str = "auto", *, dtype: str = "float64", device: str = "cpu"
    ) -> None:
        if isinstance(nu, bool) or not isinstance(nu, numbers.Real) or float(nu) not in self.SUPPORTED_NU:
            raise ValueError(f"nu must be a finite number > 0, one of {self.SUPPORTED_NU}, got {nu!r}")
        super().__init__(bandwidth, dtype=dtype, device=device)
        self.nu = float(nu)

    def _param_names(self) -> tuple[str, ...]:
        return ("nu", *super()._param_names())

    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        return self._of_scaled_sq(scaled_sq_distances(X, Z, self.length_scale, factor=2.0 * self.nu))

    def prepare(self, Z: torch.Tensor) -> DistanceColumns:
        return DistanceColumns(Z)

    def _exact_into(self, X: torch.Tensor, Z: torch.Tensor, out: torch.Tensor,
                    prepared: DistanceColumns | None = None) -> None:
        self._of_scaled_sq(scaled_sq_distances(X, Z, self.length_scale, out=out, factor=2.0 * self.nu,
                                               columns=prepared))

    def _of_scaled_sq(self, s2: torch.Tensor) -> torch.Tensor:
        """K from ``s² = 2ν·r²``, in place in ``s2``: ν=0.5: ``exp(−s)``; ν=1.5: ``(1 + s)·exp(−s)``;
        ν=2.5: ``(1 + s + s²/3)·exp(−s)``."""
        # beyond s = 1e4 every ν's K underflows to 0; the clamp keeps (1 + s)·exp(-s) from inf·0
        s = s2.sqrt_().clamp_max_(_FAR)
        if self.nu == 0.5:
            return s.neg_().exp_()
        decay = torch.exp(-s)
        if self.nu == 1.5:
            return s.add_(1.0).mul_(decay)
        third = s.div(3.0).add_(1.0)
        return s.mul_(third).add_(1.0).mul_(decay)

    def _sample(self, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
        dof = int(round(2 * self.nu))  # 1, 3 or 5: a chi-square as a sum of squared normals
        chi2 = standard_normal((m, dof), gen).pow(2).sum(1, keepdim=True)
        g = standard_normal((m, d), gen)
        return g / (self.length_scale * torch.sqrt(chi2 / dof))

    def uniform_dim(self, d: int) -> int:
        return d + 1  # d normal coordinates and the χ² radius

    def _from_uniform(self, U: torch.Tensor, d: int) -> torch.Tensor:
        dof = 2.0 * self.nu
        g = torch.special.ndtri(U[:, :d])
        chi2 = numpy_to_torch(2.0 * gammaincinv(dof / 2.0, U[:, d].numpy()))[:, None]  # χ²_dof quantile
        return g / (self.length_scale * torch.sqrt(chi2 / dof))
