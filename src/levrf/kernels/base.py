"""The kernel interface: a kernel written as an expectation over random weights.

``K(x, z) = E_{w~p}[ φ(x, w)ᵀ φ(z, w) ]`` (paper Eq. 3). A kernel object knows three things:
its closed form (``__call__``), how to draw weights from ``p`` (``sample``) and its feature
vector ``φ`` (``features``). Some kernels know only their closed form (``has_features = False``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from .._validation import (
    as_generator,
    as_matrix,
    check_positive_int,
    resolve_device,
    resolve_dtype,
)
from ..config import get_budget

#: rows of the seeded subsample from which data-dependent parameters (``bandwidth="auto"``) are
#: measured: the median of the ~5·10⁵ pairwise distances of 1,000 rows is within about 1% of the
#: median over all pairs, and the 1,000 × 1,000 distance matrix is 8 MB
RESOLVE_ROWS = 1000
#: the seed of that subsample: the resolved value is a function of the data alone
RESOLVE_SEED = 0
#: on the CPU, :meth:`Kernel.compute` evaluates ``K(X, Z)`` in row blocks of about this many bytes
#: of output (a kernel may ask for more, :attr:`Kernel.compute_block_bytes`), so that a kernel's
#: elementwise passes (distances, scaling, ``exp``) and their temporaries stay in the processor's
#: cache: 4–7× faster than one pass over a 128 MiB chunk for the Gaussian, Laplacian and Matérn
#: kernels at 2,048–8,192 columns (``benchmarks/kernel_blocks.py``, the 2-core machine)
COMPUTE_BLOCK_BYTES = 2 * 2**20


def resolve_rows_index(n_rows: int) -> torch.Tensor:
    """The sorted row indices (CPU int64) that :meth:`Kernel.resolve` measures on: all rows when
    there are at most :data:`RESOLVE_ROWS`, else a uniform subsample drawn with seed
    :data:`RESOLVE_SEED` (estimators gather the same rows with ``rows.take``, so Dask works)."""
    n_rows = check_positive_int(n_rows, "n_rows")
    if n_rows <= RESOLVE_ROWS:
        return torch.arange(n_rows)
    gen = torch.Generator().manual_seed(RESOLVE_SEED)
    return torch.randperm(n_rows, generator=gen)[:RESOLVE_ROWS].sort().values


class Kernel(ABC):
    """Base class of expectation-form kernels.

    Parameters
    ----------
    dtype : {"float64", "float32"}
        Floating type of every tensor the kernel returns.
    device : str or torch.device
        Where the kernel computes; outputs are torch tensors on this device.
    """

    #: whether ``sample``/``features`` exist (False for closed-form-only kernels)
    has_features: bool = True

    @property
    def compute_block_bytes(self) -> int:
        """Bytes of output per row block of :meth:`compute` on the CPU (:data:`COMPUTE_BLOCK_BYTES`;
        a kernel whose evaluation needs no temporaries the size of the block may take more)."""
        return COMPUTE_BLOCK_BYTES

    # Optional capabilities: what the leverage machinery can exploit about a kernel. The
    # defaults say "not available"; a kernel (a user's subclass too) opts in by overriding them.

    #: φ(x, w) = g(x, w)·x with a scalar gate g, given by :meth:`feature_gates` (the ReLU NTK):
    #: exact leverage then costs one GEMM with the gates per chunk instead of d solves per weight
    gated_features: bool = False
    #: p = N(0, I_d) whatever the kernel's parameters (the ReLU kernels): the ``"surrogate"``
    #: sampler's ``q(w) ∝ ‖w‖² p(w)`` then has the exact importance weight ``d/‖w‖²``
    p_is_standard_normal: bool = False

    def __init__(self, *, dtype: str = "float64", device: str = "cpu") -> None:
        self.dtype = dtype
        self.device = device

    # ------------------------------------------------------------------ plumbing
    @property
    def torch_dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype)

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)

    # ------------------------------------------------------------------ parameters
    def _param_names(self) -> tuple[str, ...]:
        """Constructor parameters, in order (subclasses prepend their own)."""
        return ("dtype", "device")

    def _param_attribute(self, name: str) -> str:
        """The attribute holding constructor parameter ``name`` (the same name by default)."""
        return name

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments by their constructor names (``deep`` is accepted for
        scikit-learn and ignored: a kernel has no nested estimators)."""
        return {k: getattr(self, self._param_attribute(k)) for k in self._param_names()}

    def set_params(self, **params) -> Kernel:
        """Change constructor parameters, re-validated by the constructor (scikit-learn's
        ``set_params``, which ``GridSearchCV`` uses for ``…__kernel__bandwidth``)."""
        valid = self._param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"invalid parameter(s) {unknown} for {type(self).__name__}; valid parameters are {list(valid)}"
            )
        rebuilt = type(self)(**{**self.get_params(), **params})
        self.__dict__.update(rebuilt.__dict__)
        return self

    def to(self, dtype: str | None = None, device: str | None = None) -> Kernel:
        """This kernel computing in ``dtype`` on ``device`` (``self`` when nothing changes)."""
        dtype = self.dtype if dtype is None else dtype
        device = self.device if device is None else device
        if dtype == self.dtype and str(device) == str(self.device):
            return self
        return type(self)(**{**self.get_params(), "dtype": dtype, "device": str(device)})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(map(str, self.get_params().items())))))

    def _matrix(self, X, name: str) -> torch.Tensor:
        return as_matrix(X, name, dtype=self.torch_dtype, device=self.torch_device)

    # ------------------------------------------------------------------ data-dependent parameters
    @property
    def is_resolved(self) -> bool:
        """Whether every parameter is a number (False while one is ``"auto"``, measured from data)."""
        return True

    def resolve(self, X) -> Kernel:
        """This kernel with its data-dependent parameters (``bandwidth="auto"``) measured on ``X``.

        Returns a copy with numbers in their place (``self`` when there is nothing to resolve).
        At most :data:`RESOLVE_ROWS` rows of ``X`` are read: a subsample seeded by
        :data:`RESOLVE_SEED` (see :func:`resolve_rows_index`), so the result depends on the data
        only. Estimators do the same on their training rows in ``fit``.
        """
        X = self._matrix(X, "X")
        if self.is_resolved:
            return self
        return self._resolve(X[resolve_rows_index(X.shape[0]).to(X.device)])

    def _resolve(self, S: torch.Tensor) -> Kernel:
        """The resolved copy from the (sub)sampled rows ``S`` (kernels with ``"auto"`` parameters)."""
        raise NotImplementedError

    def _require_resolved(self) -> None:
        if not self.is_resolved:
            raise ValueError(
                f"{self!r}: bandwidth='auto' is resolved from data: call kernel.resolve(X) or use an estimator"
            )

    # ------------------------------------------------------------------ closed form
    def __call__(self, X, Z=None) -> torch.Tensor:
        """Exact kernel matrix ``K(X, Z)`` of shape (n, n'); ``Z=None`` means ``Z = X``.

        A kernel with ``bandwidth="auto"`` is resolved from ``X`` first (:meth:`resolve`): the
        same number an estimator fitted on ``X`` would use.
        """
        X = self._matrix(X, "X")
        if not self.is_resolved:
            return self.resolve(X)(X, Z)
        Z = X if Z is None else self._matrix(Z, "Z")
        if Z.shape[1] != X.shape[1]:
            raise ValueError(
                f"Z has {Z.shape[1]} columns but X has {X.shape[1]}; both must have the same dimension"
            )
        return self.compute(X, Z)

    def compute(self, X: torch.Tensor, Z: torch.Tensor, out: torch.Tensor | None = None, *,
                prepared: object | None = None) -> torch.Tensor:
        """``K(X, Z)`` of tensors already in this kernel's dtype and device, unchecked.

        The fast path for library code that has validated its inputs once (``__call__``
        validates and then calls this). On the CPU the rows of ``X`` are taken in blocks of
        about :attr:`compute_block_bytes` of output (the same values up to rounding: a kernel's
        pairs do not depend on the other rows); ``K(X, X)`` is computed whole. ``out`` (a
        contiguous (n, n') tensor of the result's dtype), if given, receives the values and is
        returned: a caller that evaluates many chunks reuses one buffer instead of a fresh
        multi-megabyte allocation per chunk. ``prepared``: :meth:`prepare` of this ``Z``, for a
        caller that evaluates many row chunks against the same ``Z`` (else each call prepares
        it once for its own blocks).
        """
        rows = max(16, self.compute_block_bytes // (X.element_size() * max(Z.shape[0], 1)))
        if Z is X or X.device.type != "cpu" or X.shape[0] <= 2 * rows:
            if prepared is None or Z is X:
                return self._exact(X, Z) if out is None else out.copy_(self._exact(X, Z))
            if out is None:
                out = torch.empty(X.shape[0], Z.shape[0], dtype=X.dtype, device=X.device)
            self._exact_into(X, Z, out, prepared)
            return out
        begin = 0
        if out is None:
            first = self._exact(X[:rows], Z)
            out = torch.empty(X.shape[0], Z.shape[0], dtype=first.dtype, device=first.device)
            out[:rows] = first
            begin = rows
        prepared = self.prepare(Z) if prepared is None else prepared
        for start in range(begin, X.shape[0], rows):
            self._exact_into(X[start : start + rows], Z, out[start : start + rows], prepared)
        return out

    def prepare(self, Z: torch.Tensor) -> object | None:
        """What :meth:`compute` can reuse of ``Z`` (a tensor in this kernel's dtype and device)
        across row blocks and calls: ``None`` for most kernels; the shift-invariant kernels of
        squared distances prepare a :class:`DistanceColumns` (``Z``'s scaling, centre and norms)."""
        return None

    def _exact_into(self, X: torch.Tensor, Z: torch.Tensor, out: torch.Tensor, prepared: object | None = None) -> None:
        """Write ``K(X, Z)`` into ``out``; kernels that can compute in place override this."""
        out.copy_(self._exact(X, Z))

    @abstractmethod
    def _exact(self, X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor: ...

    def diag(self, X) -> torch.Tensor:
        """``K(x_i, x_i)`` for each row, without forming the matrix."""
        X = self._matrix(X, "X")
        return torch.stack([self._exact(X[i : i + 1], X[i : i + 1])[0, 0] for i in range(X.shape[0])])

    # ------------------------------------------------------------------ random features
    def feature_dim(self, d: int) -> int:
        """``d2``: length of φ(x, w) for inputs of dimension ``d``."""
        raise NotImplementedError(f"{type(self).__name__} has no random features")

    def sample(self, m: int, d: int, generator: torch.Generator | int | None = None) -> torch.Tensor:
        """Draw ``m`` weights from ``p`` for inputs of dimension ``d``: tensor (m, d).

        Weights are drawn on the CPU from ``generator`` (a seed or ``torch.Generator``) and moved
        to the kernel's device, so a seed gives the same weights on every device.
        """
        self._require_features()
        self._require_resolved()
        m = check_positive_int(m, "m")
        d = check_positive_int(d, "d")
        gen = as_generator(generator, name="generator")
        W = self._sample(m, d, gen).to(device=self.torch_device, dtype=self.torch_dtype)
        if not bool(torch.isfinite(W).all()):
            raise ValueError(
                f"weights drawn from p are not finite in {self.torch_dtype} (largest finite value "
                f"{torch.finfo(self.torch_dtype).max:.3g}); check the kernel's parameters ({self!r})"
            )
        return W

    def uniform_dim(self, d: int) -> int | None:
        """Coordinates k of the unit cube that :meth:`weights_from_uniform` maps to one weight.

        ``None`` when the kernel has no such inverse-CDF transform (``sampling="qmc"`` then
        raises and the leverage samplers draw i.i.d. from ``p`` where they would use it).
        """
        return None

    def weights_from_uniform(self, U, d: int) -> torch.Tensor:
        """Map points of the open unit cube (m, k) to weights (m, d): ``U`` uniform ⇒ ``W ~ p``.

        The transform is coordinate-wise inverse CDFs, so equidistributed points (quasi-Monte
        Carlo) give evenly spread weights while each single point still has the law ``p``.
        """
        self._require_features()
        self._require_resolved()
        d = check_positive_int(d, "d")
        k = self.uniform_dim(d)
        if k is None:
            raise ValueError(f"{type(self).__name__} has no inverse-CDF transform of p; it cannot map uniforms to weights")
        U = torch.as_tensor(U, dtype=torch.float64, device="cpu")
        if U.ndim != 2 or U.shape[1] != k:
            raise ValueError(f"U must have shape (m, {k}) for inputs of dimension {d}, got {tuple(U.shape)}")
        if not bool(((U > 0) & (U < 1)).all()):
            raise ValueError("U must lie in the open unit cube (0, 1)^k")
        return self._from_uniform(U, d).to(device=self.torch_device, dtype=self.torch_dtype)

    def _from_uniform(self, U: torch.Tensor, d: int) -> torch.Tensor:
        raise NotImplementedError

    def features(self, X, W) -> torch.Tensor:
        """φ(x_i, w_r) for every row of ``X`` and ``W``: tensor (n, m, d2)."""
        self._require_features()
        self._require_resolved()
        X = self._matrix(X, "X")
        W = as_matrix(W, "W", dtype=self.torch_dtype, device=self.torch_device)
        if W.shape[1] != X.shape[1]:
            raise ValueError(f"W has {W.shape[1]} columns but X has {X.shape[1]}")
        return self._features(X, W)

    def _require_features(self) -> None:
        if not self.has_features:
            raise NotImplementedError(
                f"{type(self).__name__} is known only in closed form; it has no random features"
            )

    def compute_features(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """φ(x_i, w_r) (n, m, d2) of tensors in this kernel's dtype and device, unchecked."""
        return self._features(X, W)

    def feature_map(
        self, X: torch.Tensor, W: torch.Tensor, scale: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``φ(x_i, w_r) · scale_r`` flattened to (n, m·d2), weight by weight (the map ψ), unchecked.

        ``out`` is an optional preallocated (n, m·d2) tensor that the result *may* be written
        into (kernels that can fill it in place do; the returned tensor is the result).
        """
        return self._scaled_features(X, W, scale, out=out)

    def _sample(self, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def _features(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ capabilities
    def weight_dim(self, d: int) -> int | None:
        """``d1``, the length of a weight for inputs of dimension ``d`` (``None``: any length)."""
        return d

    def feature_gates(self, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """The gates ``S`` (n, m) with ``φ(x_i, w_r) = S_ir · x_i``, unchecked; only for kernels
        with ``gated_features = True``."""
        raise NotImplementedError(
            f"{type(self).__name__} has no gated linear features (gated_features is False)"
        )

    def feature_norm_proposal(self, X: torch.Tensor):
        """A :class:`levrf.kernels.proposals.FeatureNormProposal` for the float64 rows ``X``, or
        ``None`` when this kernel has none (then exact rejection sampling is not available).

        Kernels whose ``‖Φ(w)‖_F²`` has a known bound and whose ``p(w)‖Φ(w)‖_F²`` can be sampled
        exactly override this (see :mod:`levrf.kernels.proposals`).
        """
        return None

    def _scaled_features(
        self, X: torch.Tensor, W: torch.Tensor, scale: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`feature_map`'s implementation (kernels with a fused map override it)."""
        return (self._features(X, W) * scale[None, :, None]).reshape(X.shape[0], -1)


def standard_normal(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """float64 N(0, 1) draws on the generator's (CPU) device."""
    return torch.randn(shape, generator=gen, dtype=torch.float64, device=gen.device)


def angle_cosines(X: torch.Tensor, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outer product of norms ‖x‖‖z‖ and cos θ (clamped to [-1, 1]; 1 where a norm is 0)."""
    norms = X.norm(dim=1)[:, None] * Z.norm(dim=1)[None, :]
    dots = X @ Z.T
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    cos = torch.where(norms > 0, dots / safe, torch.ones_like(dots)).clamp(-1.0, 1.0)
    return norms, cos


#: |cos θ| above which θ is recomputed from the normalised rows: arccos is ill-conditioned at ±1
#: (a rounding of 1e-16 in cos θ = 1 moves θ by 1.5e-8); below it arccos is accurate to ~1e-14.
_NEAR_PARALLEL = 1.0 - 1e-4
#: ‖x − z‖² below this fraction of ‖x‖² + ‖z‖² (centred rows) is recomputed directly: the expansion
#: ‖x‖² + ‖z‖² − 2xᵀz errs by at most ~(d + 2)·eps·(‖x‖² + ‖z‖²), so every pair it keeps is
#: accurate to (d + 2)·eps·2¹⁰ relative (2e-13·(d + 2) in float64; typically √d times less).
_CANCELLED = 2.0**-10


def recompute_pairs(out: torch.Tensor, mask: torch.Tensor, X: torch.Tensor, Z: torch.Tensor, pair_value) -> None:
    """Overwrite ``out[i, j]`` with ``pair_value(X[i], Z[j])`` wherever ``mask[i, j]``, in place.

    ``pair_value`` maps two gathered (pairs, d) blocks to (pairs,) values. The mask is scanned in
    row blocks and the pairs gathered in blocks, so the index tensors and the gathered rows each
    stay below the ``pair_block_elements`` budget of :mod:`levrf.config` (2²² elements, 32 MB in
    float64) whatever the number of pairs: no (n, n', d) tensor.
    """
    row_step = max(1, get_budget("pair_block_elements") // max(mask.shape[1], 1))
    for r0 in range(0, mask.shape[0], row_step):
        rows, cols = mask[r0 : r0 + row_step].nonzero(as_tuple=True)
        recompute_pair_list(out, rows + r0, cols, X, Z, pair_value)


def recompute_pair_list(out: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, X: torch.Tensor,
                        Z: torch.Tensor, pair_value) -> None:
    """:func:`recompute_pairs` on the pairs ``(rows[k], cols[k])``, gathered in bounded blocks."""
    pair_step = max(1, get_budget("pair_block_elements") // max(X.shape[1], 1))
    for s in range(0, rows.numel(), pair_step):
        i, j = rows[s : s + pair_step], cols[s : s + pair_step]
        out[i, j] = pair_value(X[i], Z[j]).to(out.dtype)


def angles(X: torch.Tensor, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``‖x‖‖z‖``, ``cos θ`` and the angle θ ∈ [0, π] for every pair of rows.

    θ is ``arccos(cos θ)`` except for nearly parallel or antiparallel pairs, where it is Kahan's
    ``2 atan2(‖x̂ − ẑ‖, ‖x̂ + ẑ‖)`` of the unit rows, accurate to rounding (e.g. exactly 0 for
    equal rows). Pairs with a zero row get θ = 0.
    """
    norms, cos = angle_cosines(X, Z)
    theta = torch.arccos(cos)
    near = (cos.abs() > _NEAR_PARALLEL) & (norms > 0)
    if bool(near.any()):
        def unit(A: torch.Tensor) -> torch.Tensor:
            n = A.norm(dim=1, keepdim=True)
            return A / torch.where(n > 0, n, torch.ones_like(n))

        recompute_pairs(
            theta, near, unit(X), unit(Z), lambda a, b: 2.0 * torch.atan2((a - b).norm(dim=1), (a + b).norm(dim=1))
        )
    return norms, cos, theta


def _binary_exponent(value: float) -> int:
    """``e`` with ``value`` in [2^(e-1), 2^e) (0 for value 0): dividing by 2^e is exact and gives < 1."""
    return math.frexp(value)[1] if value > 0 else 0


def times_power_of_two(T: torch.Tensor, mantissa: float, exponent: int) -> torch.Tensor:
    """``T · mantissa · 2^exponent`` in place, for any ``exponent``, overflowing to ±inf and
    underflowing to 0 but never multiplying 0 by inf (no NaN for finite ``T``).

    The power is applied in steps of at most 2^±60, each a normal number of float32 and float64,
    where a single scalar 2^exponent would itself overflow to inf (or flush to 0) in the dtype.
    """
    while abs(exponent) > 60:
        step = 60 if exponent > 0 else -60
        T.mul_(2.0**step)
        exponent -= step
    return T.mul_(mantissa * 2.0**exponent)


def _power_of_two_scaled(X: torch.Tensor, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """X / 2^e and Z / 2^e with the largest |entry| in [1/2, 1): exact (up to subnormals), and
    their squares and products can no longer overflow."""
    largest = max(float(X.abs().max()) if X.numel() else 0.0, float(Z.abs().max()) if Z.numel() else 0.0)
    e = _binary_exponent(largest)
    if e == 0:
        return X, Z, 0
    Xs = times_power_of_two(X.clone(), 1.0, -e)
    Zs = Xs if Z is X else times_power_of_two(Z.clone(), 1.0, -e)
    return Xs, Zs, e


class DistanceColumns:
    """The ``Z`` side of :func:`scaled_sq_distances`, prepared once for many row blocks of ``X``.

    :meth:`Kernel.compute` evaluates ``K(X, Z)`` in row blocks against the same ``Z``; without
    this, every block would rescale, centre and square all of ``Z`` again (at 16,384 columns and
    32-row blocks that is as much work as the block itself). Holds ``Z``'s power-of-two exponent,
    its rows divided by it, their mean (the centre every block is shifted by) and the augmented
    rows ``[−2 z_c, 1, ‖z_c‖²]`` whose product with ``[x_c, ‖x_c‖², 1]`` is the whole expansion
    ``‖x_c‖² + ‖z_c‖² − 2x_cᵀz_c`` in one GEMM.
    """

    def __init__(self, Z: torch.Tensor, *, exponent: int | None = None,
                 also_centre: torch.Tensor | None = None) -> None:
        # exponent: a common one chosen by the caller; also_centre: rows (already divided by
        # 2^exponent) whose mean is taken together with Z's as the centre
        self.exponent = _binary_exponent(_largest(Z)) if exponent is None else exponent
        self.scaled = times_power_of_two(Z.clone(), 1.0, -self.exponent) if self.exponent else Z
        if also_centre is None:
            self.centre = self.scaled.mean(0) if Z.shape[0] else Z.new_zeros(Z.shape[1])
        else:
            total = self.scaled.sum(0) + also_centre.sum(0)
            self.centre = total / max(Z.shape[0] + also_centre.shape[0], 1)
        centred = self.scaled - self.centre
        self.norms = (centred * centred).sum(1)
        self.augmented = torch.cat([centred * -2.0, torch.ones_like(self.norms)[:, None], self.norms[:, None]], 1)


def _largest(T: torch.Tensor) -> float:
    return float(T.abs().max()) if T.numel() else 0.0


def scaled_sq_distances(X: torch.Tensor, Z: torch.Tensor, length_scale: float,
                        out: torch.Tensor | None = None, *, factor: float = 1.0,
                        columns: DistanceColumns | None = None) -> torch.Tensor:
    """``factor · ‖x_i − z_j‖² / ℓ²`` for every pair of rows, accurate at any scale, never NaN.

    The rows are divided by a common power of two (exact; no square can overflow) and centred
    by a common mean (distances are translation invariant, and the expansion
    ``‖x‖² + ‖z‖² − 2xᵀz`` is then computed on the smallest possible norms: inputs of norm 1e8
    around a unit-scale cloud no longer cancel). Pairs where the expansion has still cancelled,
    below ``_CANCELLED`` of ``‖x‖² + ‖z‖²`` (near pairs far from the centre, and every pair the
    rounding made negative), are recomputed directly as ``Σ_k (x_k − z_k)²`` from the
    uncentred rows, in bounded blocks; so ``K(x, x)`` has distance exactly 0. ``factor`` (for
    instance −½ for the Gaussian) is applied in the same pass as ``1/ℓ²``. Results too large
    for the dtype are ``±inf``, too small ``0``. ``out`` (n, n'), if given, receives the result.
    ``columns``: ``Z`` prepared by :class:`DistanceColumns` (its exponent and centre are used
    when ``X`` is no larger in magnitude; else they are recomputed from both).
    Memory: the (n, n') result and the few rows the screen hits.
    """
    same = Z is X
    if same:
        Xs, Zs, e = _power_of_two_scaled(X, Z)
        Xc = Xs - Xs.mean(0)
        x2 = z2 = (Xc * Xc).sum(1)
        # one product with itself, so that K(X, X) is symmetric to the last bit
        sq = torch.matmul(Xc, Xc.T, out=out).mul_(-2.0).add_(x2[:, None]).add_(x2[None, :])
    else:
        e_x = _binary_exponent(_largest(X))
        fresh = columns is None or e_x > columns.exponent
        e = max(e_x, _binary_exponent(_largest(Z))) if fresh else columns.exponent
        Xs = times_power_of_two(X.clone(), 1.0, -e) if e else X
        if fresh:
            columns = DistanceColumns(Z, exponent=e, also_centre=Xs)
        Zs = columns.scaled
        Xc = Xs - columns.centre
        x2, z2 = (Xc * Xc).sum(1), columns.norms
        augmented_x = torch.cat([Xc, x2[:, None], torch.ones_like(x2)[:, None]], 1)
        sq = torch.matmul(augmented_x, columns.augmented.T, out=out)
    row_step = max(1, get_budget("pair_block_elements") // max(sq.shape[1], 1))
    for r0 in range(0, sq.shape[0], row_step):
        rows, cols = cancelled_pairs(sq[r0 : r0 + row_step], x2[r0 : r0 + row_step], z2)
        recompute_pair_list(sq, rows + r0, cols, Xs, Zs, lambda a, b: (a - b).square().sum(1))
    if same:
        sq.fill_diagonal_(0.0)
    # factor and 1/ℓ² multiplied as mantissas and exponents: their product may overflow a float
    (m_factor, e_factor), (m_scale, e_scale) = math.frexp(factor), math.frexp(1.0 / length_scale**2)
    return times_power_of_two(sq, m_factor * m_scale, e_factor + e_scale + 2 * e)


#: a first screen of the cancelled pairs (a superset, one comparison per pair) is refined pair by
#: pair when its rows hold at most this fraction of the pairs; above it the exact test is run whole
_SCREEN_FRACTION = 1.0 / 8


def cancelled_pairs(sq: torch.Tensor, x2: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, cols)`` of the pairs with ``sq ≤ _CANCELLED·(x2_i + z2_j)``.

    Screened first by each row's minimum against the per-row bound
    ``_CANCELLED·(x2_i + max_j z2_j)``: one reduction pass and no (n, n') temporary. Only the
    rows the screen hits are scanned for pairs, and only those pairs are tested exactly
    (typically a few rows per block: a center among the rows, a repeated row).
    """
    if sq.numel() == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=sq.device)
        return empty, empty
    bound = _CANCELLED * (x2 + z2.max())
    hit = (sq.amin(1) <= bound).nonzero().squeeze(1)
    if hit.numel() > _SCREEN_FRACTION * sq.shape[0]:
        return (sq <= _CANCELLED * (x2[:, None] + z2[None, :])).nonzero(as_tuple=True)
    sub, cols = (sq[hit] <= bound[hit, None]).nonzero(as_tuple=True)
    rows = hit[sub]
    exact = sq[rows, cols] <= _CANCELLED * (x2[rows] + z2[cols])
    return rows[exact], cols[exact]


def scaled_l1_distances(X: torch.Tensor, Z: torch.Tensor, length_scale: float) -> torch.Tensor:
    """``‖x_i − z_j‖₁ / ℓ`` for every pair, summed directly (exact at any norm), never NaN."""
    Xs, Zs, e = _power_of_two_scaled(X, Z)
    dist = torch.cdist(Xs, Zs, p=1.0)
    mantissa, exponent = math.frexp(1.0 / length_scale)
    return times_power_of_two(dist, mantissa, exponent + e)
