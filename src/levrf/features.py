"""``RandomFeatures``: the modified random feature map ψ of Definition 3.2 as an sklearn transformer.

    ψ(x) = m^{-1/2} [ sqrt(p(w_r)/q(w_r)) · φ(x, w_r) ]_{r=1..m}  ∈ R^{m·d2}

The weights ``w_r`` and the importance weights come from a sampler (``sampling=``); the map is
evaluated in row chunks so that no intermediate larger than a memory budget is built.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import (
    Checked,
    Integer,
    NoneValue,
    Options,
    Real,
    ValidatedParameters,
    as_generator,
    check_random_state,
    check_random_state_value,
    deprecate_positional_args,
    numpy_to_torch,
    resolve_device,
    resolve_dtype,
)
from .config import get_budget
from .kernels import GaussianKernel, Kernel
from .kernels.base import resolve_rows_index
from .leverage.methods import SCORER_METHODS
from .leverage.samplers import SAMPLERS, Sampler, make_sampler
from .rows import Rows, TensorRows, as_rows, is_dask_collection


def resolve_kernel(kernel) -> Kernel:
    """``None`` means ``GaussianKernel()`` (``bandwidth="auto"``); anything else must be a levrf kernel."""
    if kernel is None:
        return GaussianKernel()
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a levrf kernel (e.g. levrf.GaussianKernel()), got {kernel!r}")
    return kernel


def fitted_kernel(kernel, rows: Rows, dtype: str, device: str) -> Kernel:
    """The estimator's kernel (``None``: ``GaussianKernel()``) in ``dtype`` on ``device``, with
    ``bandwidth="auto"`` resolved from the training rows: the seeded subsample of
    :func:`levrf.kernels.base.resolve_rows_index`, gathered by ``rows.take`` (so Dask works)."""
    kernel = resolve_kernel(kernel).to(dtype, device)
    if kernel.is_resolved:
        return kernel
    return kernel.resolve(rows.take(resolve_rows_index(rows.n_rows)))


def kernel_bandwidth(kernel: Kernel) -> float | None:
    """The number a fitted kernel uses as its bandwidth (``None`` for kernels without one)."""
    return getattr(kernel, "bandwidth", None)


def check_kernel(kernel, name: str = "kernel") -> None:
    """``None`` or a levrf kernel (what :func:`resolve_kernel` accepts)."""
    if kernel is not None and not isinstance(kernel, Kernel):
        raise TypeError(f"{name} must be a levrf kernel (e.g. levrf.GaussianKernel()) or None, got {kernel!r}")


def check_sampling(value, name: str = "sampling") -> None:
    """The name of a registered sampler (read when checked: samplers may register later)."""
    if not isinstance(value, str) or value not in SAMPLERS:
        raise ValueError(f"{name} must be one of {sorted(SAMPLERS)}, got {value!r}")


#: constraints of the parameters every levrf estimator shares (kernel, chunking, precision,
#: device, seed): ``_parameter_constraints`` tables start from this one
ESTIMATOR_CONSTRAINTS = {
    "kernel": Checked(check_kernel, "a levrf kernel or None"),
    "batch_size": [NoneValue(), Integer(1)],
    "dtype": Checked(resolve_dtype, "'float64' or 'float32'"),
    "device": Checked(resolve_device, "a torch device"),
    "random_state": Checked(check_random_state_value, "None, an int or a numpy.random.Generator"),
}

#: constraints of the random-feature parameters, written once: RandomFeatures, the random-feature
#: ridge estimators and their CV use this table (the CV replaces ``alpha`` by ``alphas``)
RANDOM_FEATURE_CONSTRAINTS = {
    **ESTIMATOR_CONSTRAINTS,
    "n_features": Integer(1),
    "sampling": Checked(check_sampling, "the name of a sampler"),
    "alpha": Real(0.0),
    "sampling_alpha": [Options("auto"), Real(0.0)],
    "pool_size": [NoneValue(), Integer(1)],
    "leverage_method": Options(*SCORER_METHODS, "rejection"),
}

#: numpydoc entries of the shared parameters, spliced into the estimators' docstrings by
#: :func:`splice_parameter_docs` where a docstring holds ``{name}`` placeholders
PARAMETER_DOCS = {
    "kernel": """kernel : levrf kernel, default=None
        Any kernel with random features; ``None`` means ``GaussianKernel()``, whose
        ``bandwidth="auto"`` is resolved from the training rows in ``fit`` (``bandwidth_``).""",
    "n_features": """n_features : int, default=100
        Number of random weights ``m``; the feature map Ψ has ``m · d2`` columns.""",
    "sampling": """sampling : str, default="gaussian"
        Name of the weight sampler (``levrf.leverage.SAMPLERS``): ``"gaussian"`` draws from
        ``p``; ``"qmc"`` draws from ``p`` by randomized quasi-Monte Carlo (same law per weight,
        more evenly spread, smaller kernel error); ``"leverage"`` (sampling-importance-resampling
        from a pool) and ``"rejection"`` (exact) draw from the ridge leverage distribution;
        ``"surrogate"`` draws from ``‖w‖² p(w)`` (ReLU kernels). See ``docs/leverage.md``.""",
    "alpha": """alpha : float, default=1.0
        The ridge parameter λ > 0 (of the solve, and the λ leverage samplers sample for).""",
    "sampling_alpha": """sampling_alpha : float or "auto", default="auto"
        The λ' at which leverage scores are computed (leverage samplers only).""",
    "pool_size": """pool_size : int, optional
        Number of candidate weights scored by pool-based leverage samplers (default ``16·m``).""",
    "leverage_method": """leverage_method : str, default="auto"
        How leverage samplers compute their scores: ``"auto"`` (exact where the n × n matrix fits
        the ``leverage_exact_bytes`` budget of ``levrf.config``, else ``"approximate"``),
        ``"exact"``, ``"approximate"`` (row subsample, any n), ``"subsample"``, ``"nystrom"``, or
        ``"rejection"`` (deprecated: ``sampling="rejection"``).""",
    "batch_size": """batch_size : int, optional
        Rows per chunk (of Ψ or of a kernel block), in fit and predict/transform; by default
        chosen from a 128 MiB memory budget.""",
    "dtype": """dtype : {"float64", "float32"}, default="float64"
        Precision of every tensor computed.""",
    "device": """device : str, default="cpu"
        ``"cuda"`` computes on the GPU; outputs are returned as NumPy arrays.""",
    "random_state": """random_state : int, numpy.random.Generator or None, default=None
        Seed of every random choice; ``None`` means seed 0 (levrf is always reproducible). A
        ``numpy.random.Generator`` (or ``RandomState``) gives one seed drawn from it per fit,
        scikit-learn's convention: the generator advances, so refits differ. A
        ``torch.Generator`` is refused (``TypeError``): pass an int.""",
    "fit_intercept": """fit_intercept : bool, default=True
        Fit an unpenalized intercept (as scikit-learn's ``Ridge``): the targets and the
        features are centred, the intercept is ``ȳ − μᵀβ``. ``False``: no intercept.""",
    "solver": """solver : {"auto", "cholesky", "cg"}, default="auto"
        ``"cholesky"``: form ``ΨᵀΨ`` (O(n·D²)) and factor it. ``"cg"``: matrix-free
        preconditioned conjugate gradient, O(n·D) per iteration, Ψ never stored (features
        recomputed per pass, or cached within the ``cg_cache_bytes`` budget; see
        ``docs/ridge.md``, "Choosing a solver"). ``"auto"``: by the flop counts of the two
        (``levrf.ridge.solver_choice.choose_solver``), the direct solver wherever it is not
        clearly slower.""",
    "tol": """tol : float, default=1e-6
        ``solver="cg"`` stops when ``‖R − Aβ‖_F / ‖R‖_F ≤ tol`` (A = ΨᵀΨ + αI, R = ΨᵀY, both
        centred with ``fit_intercept``).""",
    "max_iter": """max_iter : int or None, default=None
        Most CG iterations (one pass over the rows each), at most 4,000; ``None`` means 200
        (``levrf.ridge.cg.DEFAULT_MAX_ITER``). Reached before ``tol``: a ``ConvergenceWarning``,
        and the iterate of smallest residual is kept.""",
    "warm_start": """warm_start : bool, default=False
        ``solver="cg"`` starts from the previous fit's ``coef_`` when its shape matches
        (otherwise from zero).""",
}


def splice_parameter_docs(cls):
    """Class decorator: replace ``{name}`` placeholders of the docstring by :data:`PARAMETER_DOCS`
    entries (indented as the placeholder), so a shared parameter is documented once."""
    doc = cls.__doc__ or ""
    for name, text in PARAMETER_DOCS.items():
        token = "{" + name + "}"
        while token in doc:
            start = doc.index(token)
            indent = doc[doc.rfind("\n", 0, start) + 1 : start]
            doc = doc.replace(token, text.replace("\n        ", "\n" + indent + "    "), 1)
    cls.__doc__ = doc
    return cls


def chunk_rows(n_rows: int, bytes_per_row: int, batch_size: int | None) -> int:
    """Rows per chunk: ``batch_size`` if given, else as many as fit the ``chunk_bytes`` budget
    of :mod:`levrf.config` (128 MiB by default)."""
    if batch_size is not None:
        return max(1, min(int(batch_size), max(n_rows, 1)))
    return max(1, min(max(n_rows, 1), get_budget("chunk_bytes") // max(bytes_per_row, 1)))


def record_columns(est, rows: Rows) -> None:
    """Record the number (and names, if any) of the columns of the rows an estimator is fitted on."""
    est.n_features_in_ = rows.n_columns
    if rows.feature_names is not None:
        est.feature_names_in_ = rows.feature_names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_


def check_columns(est, rows: Rows) -> None:
    """Refuse rows whose number (or names) of columns differ from those an estimator was fitted on."""
    if rows.n_columns != est.n_features_in_:
        raise ValueError(
            f"X has {rows.n_columns} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    fitted = getattr(est, "feature_names_in_", None)
    if fitted is not None and rows.feature_names is not None and list(fitted) != list(rows.feature_names):
        raise ValueError("The feature names of X do not match those seen in fit")


def feature_rows(X: torch.Tensor, features: FeatureMap) -> torch.Tensor:
    """Ψ of some rows (b, D), chunk by chunk (the row-wise map behind ``transform``)."""
    # assembled on the CPU chunk by chunk: a GPU holds one chunk of Ψ at a time
    out = torch.empty(X.shape[0], features.n_output_features_, dtype=resolve_dtype(features.dtype))
    for start, block in features.iter_chunks(X, reuse=True):
        out[start : start + block.shape[0]] = block
    return out


def slim_copy(features: FeatureMap) -> FeatureMap:
    """A copy of a fitted map holding only what ψ needs (its sampling diagnostics stay behind):
    what is shipped to Dask workers."""
    slim = copy.copy(features)
    for name in features._diagnostics:
        setattr(slim, name, {} if name == "sampling_info_" else None)
    return slim


class FeatureMap(TransformerMixin, ValidatedParameters, BaseEstimator):
    """What every feature map shares (random features, Nyström): input rows, ``transform``,
    output names, chunking. A subclass implements ``_fit_rows(rows)``, ``feature_map(X, out)``
    and ``chunk_size(n_rows, d)``, and sets ``n_output_features_`` when fitted.

    Every ridge solver, classifier and CV estimator takes any such map: they only call
    ``fit_rows`` and ``iter_chunks``.
    """

    #: prefix of the output column names (``get_feature_names_out``)
    _output_prefix = "f"
    #: learned attributes that are sampling diagnostics, not needed to compute ψ
    _diagnostics: tuple[str, ...] = ()

    def _torch_input(self, X, *, reset: bool) -> torch.Tensor:
        try:
            A = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        except (TypeError, ValueError) as exc:
            # scikit-learn's messages ("could not convert string to float", "Expected 2D array")
            # do not always say which argument is wrong
            if re.search(r"\bX\b", str(exc)):
                raise
            cls = TypeError if isinstance(exc, TypeError) else ValueError
            raise cls(f"X is not a valid input: {exc}") from exc
        return numpy_to_torch(A, resolve_dtype(self.dtype), resolve_device(self.device), name="X")

    def input_rows(self, X, *, reset: bool) -> Rows:
        """``X`` validated as :class:`levrf.rows.Rows` in this map's dtype and device.

        ``reset=True`` records the number (and names) of the columns; ``reset=False`` checks
        them against the fitted ones.
        """
        if is_dask_collection(X):
            rows = as_rows(X, dtype=resolve_dtype(self.dtype), device=resolve_device(self.device))
            record_columns(self, rows) if reset else check_columns(self, rows)
            return rows
        X = self._torch_input(X, reset=reset)
        return TensorRows(X, feature_names=getattr(self, "feature_names_in_", None))

    def fit(self, X, y=None):
        """Fit the map on ``X`` (a Dask array or DataFrame too: see :meth:`fit_rows`)."""
        self._validate_params()
        return self._fit_rows(self.input_rows(X, reset=True))

    def fit_rows(self, rows: Rows):
        """:meth:`fit` on validated :class:`levrf.rows.Rows` (what the ridge estimators call)."""
        self._validate_params()
        if not isinstance(rows, Rows):
            raise TypeError(f"rows must be levrf.rows.Rows, got {type(rows).__name__}")
        record_columns(self, rows)
        return self._fit_rows(rows)

    def transform(self, X) -> np.ndarray:
        """Ψ = [ψ(x_i)]_i, shape (n, n_output_features_), as a NumPy array (a lazy Dask array for
        Dask input)."""
        check_is_fitted(self, "n_output_features_")
        rows = self.input_rows(X, reset=False)
        return rows.map(feature_rows, slim_copy(self), n_columns=self.n_output_features_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns: the prefix and the column number (``"rf0"``, ``"rf1"``, …).

        With them ``set_output(transform="pandas")`` (or ``"polars"``, or the global
        ``sklearn.set_config(transform_output=...)``) returns a DataFrame with these columns.
        ``input_features``, if given, must be the columns seen in ``fit``.
        """
        check_is_fitted(self, "n_output_features_")
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
            fitted = getattr(self, "feature_names_in_", None)
            if names.ndim != 1 or len(names) != self.n_features_in_ or (
                fitted is not None and list(names) != list(fitted)
            ):
                raise ValueError(
                    f"input_features must be the {self.n_features_in_} column names seen in fit, got {list(names)!r}"
                )
        return np.asarray([f"{self._output_prefix}{i}" for i in range(self.n_output_features_)], dtype=object)

    def iter_chunks(self, X: torch.Tensor, *, reuse: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(start_row, Ψ[start:start+b])`` over row chunks of a torch tensor.

        With ``reuse=True`` every chunk is written into one buffer allocated up front, so each
        yielded tensor is overwritten by the next one (copy it to keep it). This saves the
        operating system's zeroing of a fresh multi-megabyte allocation per chunk, 10–15% of a
        CPU fit (``benchmarks/krr.py``); levrf's own loops, which consume each chunk at once,
        use it.
        """
        step = self.chunk_size(X.shape[0], X.shape[1])
        buffer = None
        if reuse and X.shape[0] > 0:
            buffer = torch.empty(
                min(step, X.shape[0]), self.n_output_features_, dtype=resolve_dtype(self.dtype), device=X.device
            )
        for start in range(0, X.shape[0], step):
            rows = X[start : start + step]
            yield start, self.feature_map(rows, out=None if buffer is None else buffer[: rows.shape[0]])

    # ------------------------------------------------------------ factored features (solver="cg")
    def feature_factor(self) -> torch.Tensor | None:
        """The fixed right factor ``N`` of ``Ψ = B·N``, or ``None`` when ``B`` is Ψ itself.

        The hook of matrix-free solvers (:mod:`levrf.ridge.cg`): they apply ``Ψv = B(Nv)`` and
        ``Ψᵀu = Nᵀ(Bᵀu)`` and never form Ψ, which for Nyström saves the O(n·M·r) product
        ``K(X, C)·N`` per pass (Falkon's trick). Here ``B = Ψ``, ``N = None``;
        :class:`levrf.Nystroem` factors as ``B = K(X, C)``, ``N = normalization_``. Subclasses
        with another factorization override :meth:`feature_factor`, :meth:`base_features` and
        :meth:`base_width` together.
        """
        return None

    def base_width(self) -> int:
        """Columns of ``B`` (``n_output_features_`` here; M for Nyström)."""
        return int(self.n_output_features_)

    def prepare_base(self) -> object | None:
        """What :meth:`base_features` can reuse across row chunks (``None`` here; for Nyström, the
        kernel's :meth:`~levrf.kernels.Kernel.prepare` of the centers)."""
        return None

    def base_features(self, X: torch.Tensor, out: torch.Tensor | None = None, *,
                      prepared: object | None = None) -> torch.Tensor:
        """``B`` of the rows ``X`` (b, :meth:`base_width`), such that ``Ψ(X) = B·N``; ``out`` may
        receive it; ``prepared``: :meth:`prepare_base`."""
        return self.feature_map(X, out=out)

    def iter_base_chunks(self, X: torch.Tensor, *, reuse: bool = False,
                         max_bytes: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(start_row, B[start:start+b])`` over the row chunks of :meth:`iter_chunks`
        (``reuse``: one buffer for every chunk, as there; ``max_bytes``: chunks of at most that
        many bytes of ``B``, for a caller that reads each chunk again while it is in cache)."""
        step = self.chunk_size(X.shape[0], X.shape[1])
        if max_bytes is not None:
            itemsize = torch.empty((), dtype=resolve_dtype(self.dtype)).element_size()
            step = max(1, min(step, max_bytes // (itemsize * max(self.base_width(), 1))))
        prepared = self.prepare_base()
        buffer = None
        if reuse and X.shape[0] > 0:
            buffer = torch.empty(min(step, X.shape[0]), self.base_width(), dtype=resolve_dtype(self.dtype),
                                 device=X.device)
        for start in range(0, X.shape[0], step):
            rows = X[start : start + step]
            yield start, self.base_features(rows, out=None if buffer is None else buffer[: rows.shape[0]],
                                            prepared=prepared)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [self.dtype]
        return tags


@splice_parameter_docs
class RandomFeatures(FeatureMap):
    """Random features of an expectation-form kernel, sampled from ``p`` or by leverage.

    Parameters
    ----------
    {kernel}
    {n_features}
    {sampling}
    alpha : float, default=1.0
        The ridge parameter λ that the features are meant for (used by leverage samplers).
    {sampling_alpha}
    {pool_size}
    {leverage_method}
    {batch_size}
    {dtype}
    {device}
    {random_state}

    Attributes
    ----------
    kernel_ : levrf kernel
        The kernel in ``dtype`` on ``device``, with ``bandwidth="auto"`` resolved from the rows.
    bandwidth_ : float or None
        The bandwidth of ``kernel_`` (``None`` for kernels without one).
    weights_ : torch.Tensor (m, d1)
        The sampled weights.
    importance_ : torch.Tensor (m,)
        ``sqrt(p(w_r) / q(w_r))``: all ones for ``sampling="gaussian"``.
    leverage_ : torch.Tensor (m,) or None
        τ(w_r) at the sampling α, for leverage samplers.
    sampling_info_ : dict
        What the sampler reports (e.g. statistical dimension, α and mixture actually used).
    statistical_dimension_ : float or None
        ``s_α`` at the regression ``alpha`` on the fitted data (leverage samplers).
    sampling_alpha_ : float or None
        The α' at which leverage was computed (resolves ``sampling_alpha="auto"``).
    mixture_ : float or None
        The weight β of ``p`` in the sampling density ``(1 − β)·q_α' + β·p``.
    n_features_in_ : int
    n_output_features_ : int
        ``m · d2``, the number of output columns (named ``rf0``, ``rf1``, … by
        :meth:`get_feature_names_out`).
    """

    _parameter_constraints = RANDOM_FEATURE_CONSTRAINTS

    _output_prefix = "rf"
    _diagnostics = ("leverage_", "sampling_info_")

    @deprecate_positional_args
    def __init__(
        self,
        kernel=None,
        *,
        n_features: int = 100,
        sampling: str = "gaussian",
        alpha: float = 1.0,
        sampling_alpha="auto",
        pool_size: int | None = None,
        leverage_method: str = "auto",
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

    def _sampler(self) -> Sampler:
        """The configured sampler (``leverage_method="rejection"``: deprecated ``sampling="rejection"``)."""
        return make_sampler(self.sampling, alpha=self.alpha, sampling_alpha=self.sampling_alpha,
                            pool_size=self.pool_size, method=self.leverage_method)

    def _fit_rows(self, rows: Rows):
        """Draw the weights (and, for leverage samplers, score them on the rows); a Dask
        ``X`` has its weights drawn on the client, and a leverage sampler with
        ``leverage_method="approximate"`` gathers only its row subsample."""
        kernel = resolve_kernel(self.kernel)
        if not kernel.has_features:
            raise ValueError(f"kernel {kernel!r} has no random features; use levrf.KernelRidge instead")
        sampler = self._sampler()
        kernel = fitted_kernel(kernel, rows, self.dtype, self.device)
        sample = sampler.draw(kernel, rows.X if rows.in_memory else rows, int(self.n_features),
                              as_generator(check_random_state(self.random_state)))
        like = {"dtype": rows.dtype, "device": rows.device}
        self.kernel_ = kernel
        self.bandwidth_ = kernel_bandwidth(kernel)
        self.weights_ = sample.weights.to(**like)
        self.importance_ = sample.importance.to(**like)
        self.leverage_ = None if sample.leverage is None else sample.leverage.to(**like)
        self.sampling_info_ = dict(sample.info)
        # what a leverage sampler measured and chose (None for samplers that ignore the data)
        self.statistical_dimension_ = self.sampling_info_.get("statistical_dimension")
        self.sampling_alpha_ = self.sampling_info_.get("sampling_alpha")
        self.mixture_ = self.sampling_info_.get("mixture")
        self.feature_dim_ = self.kernel_.feature_dim(rows.n_columns)
        self.n_output_features_ = int(self.n_features) * self.feature_dim_
        return self

    # ---------------------------------------------------------------- torch API
    def feature_map(self, X: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """ψ for a (validated) torch tensor of rows, in one piece: (n, m·d2).

        ``out``, a contiguous (n, m·d2) tensor of the right dtype and device, may receive the
        result (kernels that can compute in place use it); the returned tensor is the result.
        """
        scale = self.importance_ / math.sqrt(self.weights_.shape[0])
        return self.kernel_.feature_map(X, self.weights_, scale, out=out)

    def chunk_size(self, n_rows: int, d: int) -> int:
        """Rows per chunk for this feature map."""
        m = self.weights_.shape[0]
        itemsize = torch.empty((), dtype=resolve_dtype(self.dtype)).element_size()
        bytes_per_row = itemsize * m * (2 * self.feature_dim_ + 2)
        return chunk_rows(n_rows, bytes_per_row, self.batch_size)
