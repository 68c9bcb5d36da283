"""Safe model files: ``save(model, path, key=None)`` and ``load(path, key=None, expected=None)``.

Layout of a model file (format version 2)::

    MAGIC (12 bytes) | version (uint32, little-endian) | auth (1 byte: 0 none, 1 HMAC-SHA256)
    | SHA-256 of the payload (32 bytes) | tag (32 bytes: HMAC-SHA256 with the key, else zeros)
    | payload

The tag is ``HMAC-SHA256(key, MAGIC | version | auth | payload)``. The payload is a zip archive
(members stored or deflated) holding ``manifest.json`` and one ``arrays/<i>.bin`` member per
array: the raw little-endian bytes of an array whose dtype, shape and memory order (C or F) the
manifest declares. The manifest is ``{"format_version": 2, "model": ESTIMATOR}`` with
``ESTIMATOR = {"class": NAME, "params": {...}, "learned": {...}}``.

Loading never executes code from the file and trusts nothing in it:

- classes come from :data:`SCHEMA`, one declarative table that lists, per class, every learned
  attribute a file may set and its kind (tensor or array with dtype and shape, int, float, ...);
  shapes are checked against each other and against the hyperparameters, which go through the
  estimator's own parameter checks; anything outside the table is refused;
- every size is capped (``MAX_*`` below) before it is allocated, and members are decompressed
  as streams with a running byte count, so a small file cannot make ``load`` allocate much;
- a device the file names must exist on this machine (no silent move to the CPU);
- with ``key=``, an HMAC-SHA256 tag authenticates the file; without it the SHA-256 only catches
  accidental damage (anyone can recompute it). See ``docs/security.md``.

Every refusal raises :class:`ModelFileError` (a ``ValueError``).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._validation import resolve_device, resolve_dtype
from .kernels import Kernel, kernel_from_spec, kernel_to_spec

MAGIC = b"LEVRF-MODEL\x00"
FORMAT_VERSION = 2

#: constructor parameters added after format 2 was fixed: a file that lacks them was written
#: before they existed, and the rebuilt estimator takes their defaults. Each only steers a refit
#: (the solver of the ridge estimators), never what a fitted model predicts.
PARAMETERS_ADDED = frozenset({"solver", "tol", "max_iter", "warm_start"})
AUTH_NONE, AUTH_HMAC_SHA256 = 0, 1
_PREFIX = struct.Struct("<IB")  # version, auth
_DIGEST = 32
_HEADER = len(MAGIC) + _PREFIX.size + 2 * _DIGEST

#: largest model file ``load`` reads, checked on the file's size before reading it
MAX_MODEL_BYTES = 1 << 30
#: most bytes all members of the archive may decompress to together
MAX_DECOMPRESSED_BYTES = 1 << 30
#: most members of the archive (the manifest and one per array)
MAX_MEMBERS = 1024
#: most bytes of the central directory of the archive (the member list, read before any member)
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 256
#: largest ``manifest.json``, decompressed
MAX_MANIFEST_BYTES = 4 << 20
#: deepest nesting of lists and objects in the manifest
MAX_JSON_DEPTH = 64
#: most elements of one array
MAX_ARRAY_ELEMENTS = 1 << 27
#: most dimensions of one array
MAX_ARRAY_NDIM = 8
#: most entries of one learned list or dict, and longest string in the manifest
MAX_ITEMS = 4096
MAX_STRING = 4096

_MANIFEST = "manifest.json"
_MEMBER_NAME = re.compile(r"arrays/(0|[1-9][0-9]{0,5})\.bin")
_CHUNK = 1 << 20
#: array dtypes a file may declare (NumPy ``dtype.str``); "<U" is any fixed-width unicode
_FLOATS = ("<f8", "<f4")
_LABELS = ("|b1", "<i8", "<i4", "<f8", "<f4", "<U")
_NUMPY_OF_TORCH = {torch.float64: "<f8", torch.float32: "<f4"}
_TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_STRING_DTYPE = re.compile(r"<U([1-9][0-9]{0,3})")


class ModelFileError(ValueError):
    """A model file was refused: not a levrf model, damaged, forged, over a limit or off-schema."""


# ====================================================================== kinds of learned values


@dataclass
class _Declared:
    """An array the manifest declares, not read yet: its shape is checked first."""

    member: str
    dtype: np.dtype
    shape: tuple[int, ...]
    order: str  # "C" or "F": the memory layout of the saved array, kept so results stay bit-identical
    kind: Array
    where: str

    def __len__(self) -> int:  # a dimension given by the length of an array attribute
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class _Context:
    """Reading state of one file: its archive, the members used so far, the bytes declared.

    Decoding runs in two passes. The first rebuilds every estimator with the arrays as
    :class:`_Declared` placeholders, so that all shapes are checked against each other and the
    hyperparameters before any array is read; :meth:`materialize` then reads the arrays.
    """

    def __init__(self, archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> None:
        self.archive = archive
        self.members = members
        self.used: set[str] = set()
        self.total = 0
        self.checks: list[Callable[[object, dict], None]] = []  # deferred, per estimator
        self.model_dtype = "float64"  # the ``dtype`` of the estimator being decoded
        self.pending: list[tuple[object, str, _Declared]] = []  # (estimator, attribute, array)
        self.rebuilt: list[tuple[object, ClassSchema, dict]] = []  # (estimator, schema, dims)

    def defer(self, check: Callable[[object, dict], None]) -> None:
        """Run ``check(model, dims)`` once every learned attribute of the estimator is set."""
        self.checks.append(check)

    def materialize(self) -> None:
        """Read every declared array into its attribute, then run the estimators' own checks."""
        for model, key, declared in self.pending:
            data = _read_member(self.archive, self.members[declared.member], declared.nbytes,
                                f"array member {declared.member!r}", exact=True)
            array = np.frombuffer(data, dtype=declared.dtype).reshape(declared.shape, order=declared.order)
            vars(model)[key] = declared.kind.finish(array, declared.where)
        for model, schema, dims in self.rebuilt:  # nested estimators first
            for check in schema.checks:
                check(model, dims)
            _move_to_device(model)

    def declare_array(self, node: dict, where: str, kind: Array) -> _Declared:
        """Check an ``{"__array__"|"__tensor__": member, "dtype", "shape", "order"}`` node against the caps."""
        return _Declared(*self._declare(node, where, kind._dtypes(self)), kind, where)

    def read_array(self, node: dict, where: str, dtypes: tuple[str, ...]) -> np.ndarray:
        """Read at once the (hyperparameter) array a node declares."""
        name, dtype, shape, order = self._declare(node, where, dtypes)
        nbytes = math.prod(shape) * dtype.itemsize
        data = _read_member(self.archive, self.members[name], nbytes, f"array member {name!r}", exact=True)
        return np.frombuffer(data, dtype=dtype).reshape(shape, order=order)

    def _declare(self, node: dict, where: str, dtypes: tuple[str, ...]) -> tuple[str, np.dtype, tuple, str]:
        marker = "__tensor__" if "__tensor__" in node else "__array__"
        _keys(node, {marker, "dtype", "shape", "order"}, where)
        name, code, shape = node[marker], node["dtype"], node["shape"]
        if node["order"] not in ("C", "F"):
            raise ModelFileError(f"{where}: order must be 'C' or 'F', got {_short(node['order'])}")
        if not isinstance(name, str) or name not in self.members:
            raise ModelFileError(f"{where} names a missing array member {name!r}")
        if name in self.used:
            raise ModelFileError(f"{where} reuses array member {name!r}")
        dtype = _array_dtype(code, where, dtypes)
        if (not isinstance(shape, list) or len(shape) > MAX_ARRAY_NDIM
                or not all(_is_int(s) and s >= 0 for s in shape)):
            raise ModelFileError(f"{where}: shape must be a list of at most {MAX_ARRAY_NDIM} sizes >= 0, "
                                 f"got {_short(shape)}")
        size = math.prod(shape)
        if size > MAX_ARRAY_ELEMENTS:
            raise ModelFileError(f"{where} declares {size} elements; the limit is MAX_ARRAY_ELEMENTS = "
                                 f"{MAX_ARRAY_ELEMENTS}")
        nbytes = size * dtype.itemsize
        if self.total + nbytes > MAX_DECOMPRESSED_BYTES:
            raise ModelFileError(f"the arrays exceed MAX_DECOMPRESSED_BYTES = {MAX_DECOMPRESSED_BYTES}")
        if self.members[name].file_size != nbytes:  # checked again, as a stream, when read
            raise ModelFileError(f"array member {name!r} declares {self.members[name].file_size} bytes; "
                                 f"{where} needs {nbytes}")
        self.used.add(name)
        self.total += nbytes
        return name, dtype, tuple(shape), node["order"]


@dataclass(frozen=True, kw_only=True)
class Kind:
    """What one learned value may be. ``optional``: the attribute may be absent; ``none``: None."""

    optional: bool = False
    none: bool = False

    def decode(self, node, ctx: _Context, where: str):
        if node is None:
            if self.none:
                return None
            raise ModelFileError(f"{where} must not be null")
        return self._decode(node, ctx, where)

    def _decode(self, node, ctx: _Context, where: str):
        raise NotImplementedError


def optional(kind: Kind) -> Kind:
    """``kind`` for an attribute that fitted estimators may lack (e.g. ``feature_names_in_``)."""
    return replace(kind, optional=True)


@dataclass(frozen=True)
class Int(Kind):
    """A JSON integer in ``[min, max]``; ``equals``: a dimension it must equal (see :class:`Tensor`)."""

    min: int | None = None
    max: int | None = None
    equals: str | None = None

    def _decode(self, node, ctx, where):
        if not _is_int(node):
            raise ModelFileError(f"{where} must be an integer, got {_short(node)}")
        if (self.min is not None and node < self.min) or (self.max is not None and node > self.max):
            raise ModelFileError(f"{where} must be {_bounds(self.min, self.max)}, got {node}")
        if self.equals is not None:
            ctx.defer(lambda model, dims: _check_dim(node, self.equals, model, dims, where))
        return node


@dataclass(frozen=True)
class Float(Kind):
    """A JSON number (finite unless ``finite=False``) in ``[min, max]``, returned as float."""

    min: float | None = None
    max: float | None = None
    finite: bool = True

    def _decode(self, node, ctx, where):
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise ModelFileError(f"{where} must be a number, got {_short(node)}")
        value = float(node)
        if self.finite and not math.isfinite(value):
            raise ModelFileError(f"{where} must be finite, got {value}")
        if (self.min is not None and not value >= self.min) or (self.max is not None and not value <= self.max):
            raise ModelFileError(f"{where} must be {_bounds(self.min, self.max)}, got {value}")
        return value


@dataclass(frozen=True)
class Bool(Kind):
    def _decode(self, node, ctx, where):
        if not isinstance(node, bool):
            raise ModelFileError(f"{where} must be true or false, got {_short(node)}")
        return node


@dataclass(frozen=True)
class Str(Kind):
    def _decode(self, node, ctx, where):
        return _string(node, where)


@dataclass(frozen=True)
class Choice(Kind):
    """One of some strings."""

    options: tuple[str, ...] = ()

    def _decode(self, node, ctx, where):
        value = _string(node, where)
        if value not in self.options:
            raise ModelFileError(f"{where} must be one of {list(self.options)}, got {_short(node)}")
        return value


@dataclass(frozen=True)
class ListOf(Kind):
    """A JSON list of ``item`` values; ``length``: a dimension its length must equal."""

    item: Kind = field(default_factory=Str)
    length: str | None = None

    def _decode(self, node, ctx, where):
        if not isinstance(node, list) or len(node) > MAX_ITEMS:
            raise ModelFileError(f"{where} must be a list of at most {MAX_ITEMS} items, got {_short(node)}")
        values = [self.item.decode(v, ctx, f"{where}[{i}]") for i, v in enumerate(node)]
        if self.length is not None:
            ctx.defer(lambda model, dims: _check_dim(len(values), self.length, model, dims, f"len({where})"))
        return values


@dataclass(frozen=True)
class ScalarDict(Kind):
    """``{"__dict__": {str: null | bool | number | str}}`` (reports such as ``sampling_info_``);
    with ``number_lists``, also lists of at most ``MAX_ITEMS`` numbers (the Nyström levels)."""

    number_lists: bool = False

    def _decode(self, node, ctx, where):
        if not isinstance(node, dict) or set(node) != {"__dict__"} or not isinstance(node["__dict__"], dict):
            raise ModelFileError(f"{where} must be a dictionary entry, got {_short(node)}")
        items = node["__dict__"]
        if len(items) > MAX_ITEMS:
            raise ModelFileError(f"{where} has more than {MAX_ITEMS} entries")
        for key, value in items.items():
            _string(key, f"{where} key")
            if isinstance(value, str):
                _string(value, f"{where}[{key!r}]")
            elif self.number_lists and isinstance(value, list):
                if len(value) > MAX_ITEMS or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                                     for v in value):
                    raise ModelFileError(f"{where}[{key!r}] must be a list of at most {MAX_ITEMS} numbers")
            elif value is not None and not isinstance(value, bool | int | float):
                raise ModelFileError(f"{where}[{key!r}] must be null, a boolean, a number or a string")
        return dict(items)


@dataclass(frozen=True)
class TorchDtype(Kind):
    def _decode(self, node, ctx, where):
        if not isinstance(node, dict) or set(node) != {"__torch_dtype__"} or node["__torch_dtype__"] not in _TORCH_DTYPES:
            raise ModelFileError(f"{where} must be a torch dtype float64 or float32, got {_short(node)}")
        return _TORCH_DTYPES[node["__torch_dtype__"]]


@dataclass(frozen=True)
class KernelKind(Kind):
    """A built-in kernel, rebuilt from its text spec (device and dtype checked)."""

    def _decode(self, node, ctx, where):
        return _decode_kernel(node, where)


@dataclass(frozen=True)
class Array(Kind):
    """A NumPy array with a dtype in ``dtypes`` and a shape matching ``shape``.

    ``dtypes``: NumPy ``dtype.str`` codes ("<U" is any unicode width); ``"$dtype"`` is the
    estimator's ``dtype`` parameter. ``shape``: a tuple of dimensions, or a list of such tuples
    told apart by their length. A dimension is an int, the name or dotted path of an attribute
    of the estimator (an int, or a sequence whose length is taken), or ``"?name"``, a size
    that must be the same wherever it recurs in the estimator. Float values must be finite.
    """

    dtypes: tuple[str, ...] = ("$dtype",)
    shape: tuple | list = ()
    objects: bool = False  # strings as an object array (as scikit-learn keeps column names)

    marker = "__array__"

    def _decode(self, node, ctx, where):
        if not isinstance(node, dict) or self.marker not in node:
            raise ModelFileError(f"{where} must be {self.marker.strip('_')} data, got {_short(node)}")
        declared = ctx.declare_array(node, where, self)
        shapes = self.shape if isinstance(self.shape, list) else [self.shape]
        ctx.defer(lambda model, dims: _check_shape(declared.shape, shapes, model, dims, where))
        return declared

    def _dtypes(self, ctx) -> tuple[str, ...]:
        return tuple(_NUMPY_OF_TORCH[resolve_dtype(ctx.model_dtype)] if d == "$dtype" else d
                     for d in self.dtypes)

    def finish(self, array: np.ndarray, where: str):
        """The attribute's value from the array read from the file."""
        if array.dtype.kind == "f" and not bool(np.isfinite(array).all()):
            raise ModelFileError(f"{where} holds NaN or infinite values")
        if array.dtype.kind == "U" and self.objects:
            return array.astype(object)
        return array


@dataclass(frozen=True)
class Tensor(Array):
    """A torch tensor: as :class:`Array`, stored as ``{"__tensor__": ...}``, floats only."""

    marker = "__tensor__"

    def _dtypes(self, ctx) -> tuple[str, ...]:
        dtypes = super()._dtypes(ctx)
        if not set(dtypes) <= set(_FLOATS):  # a schema error, not a file error
            raise TypeError(f"tensors hold float64 or float32, not {dtypes}")
        return dtypes

    def finish(self, array: np.ndarray, where: str):
        return torch.from_numpy(super().finish(array, where))


@dataclass(frozen=True)
class IndexTensor(Array):
    """A torch int64 tensor of indices (e.g. the rows a Nyström map took its centers from)."""

    dtypes: tuple[str, ...] = ("<i8",)
    marker = "__tensor__"

    def finish(self, array: np.ndarray, where: str):
        return torch.from_numpy(super().finish(array, where))


@dataclass(frozen=True)
class AnyOf(Kind):
    """The first of ``kinds`` that accepts the value."""

    kinds: tuple[Kind, ...] = ()

    def _decode(self, node, ctx, where):
        problems = []
        for kind in self.kinds:
            try:
                return kind.decode(node, ctx, where)
            except ModelFileError as exc:
                problems.append(str(exc))
        raise ModelFileError("; ".join(problems))


@dataclass(frozen=True)
class Estimator(Kind):
    """A nested, fitted estimator of one of the ``classes`` (schema names)."""

    classes: tuple[str, ...] = ()

    def _decode(self, node, ctx, where):
        if not isinstance(node, dict) or set(node) != {"__estimator__"}:
            raise ModelFileError(f"{where} must be an estimator entry, got {_short(node)}")
        name = node["__estimator__"].get("class") if isinstance(node["__estimator__"], dict) else None
        if name not in self.classes:
            raise ModelFileError(f"{where} must be one of {list(self.classes)}, got {_short(name)}")
        return _decode_estimator(node["__estimator__"], ctx, where, fitted=True)


# ====================================================================== the schema


@dataclass(frozen=True)
class ClassSchema:
    """One class a model file may name.

    cls : the class, or its import path (resolved when first needed)
    learned : every learned attribute a file may set, and its :class:`Kind`
    validate : checks of the hyperparameters, run on every rebuilt estimator, fitted or not:
        names of its own methods that its ``fit`` calls (e.g. ``_check_params``), or functions
        ``(model)``; they raise ``ValueError``/``TypeError`` for a bad value
    params : optional function turning the decoded JSON hyperparameters into constructor
        arguments (e.g. a Pipeline's steps from lists to tuples)
    checks : functions ``(model, dims)`` raising ``ValueError`` where attributes disagree;
        ``dims`` holds the ``"?name"`` sizes bound by the shapes
    parts : estimators that must be fitted for this one to be fitted (a Pipeline's steps)
    """

    cls: type | str
    learned: dict[str, Kind]
    validate: tuple[str | Callable[[object], None], ...] = ()
    checks: tuple[Callable[[object, dict], None], ...] = ()
    parts: Callable[[object], list] | None = None
    params: Callable[[dict], dict] | None = None

    def load_class(self) -> type:
        if isinstance(self.cls, type):
            return self.cls
        module, _, name = self.cls.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def required(self) -> set[str]:
        return {name for name, kind in self.learned.items() if not kind.optional}


def _kernel_in_place(model, dims) -> None:
    """``kernel_`` is the estimator's kernel (None: ``GaussianKernel()``) in its dtype on its device,
    ``bandwidth="auto"`` replaced by the learned ``bandwidth_``; ``bandwidth_`` is ``kernel_``'s."""
    from .features import kernel_bandwidth, resolve_kernel

    base = resolve_kernel(model.kernel)
    wanted = {**base.get_params(), "dtype": model.dtype, "device": str(model.device)}
    if not base.is_resolved:
        wanted["bandwidth"] = getattr(model, "bandwidth_", None)
    found = {**model.kernel_.get_params(), "device": str(model.kernel_.device)}
    if type(model.kernel_) is not type(base) or found != wanted:
        raise ValueError(f"kernel_ {model.kernel_!r} is not the estimator's kernel {base!r} in "
                         f"dtype={model.dtype!r} on device={model.device!r}"
                         + ("" if base.is_resolved else f" with bandwidth_={wanted['bandwidth']!r}"))
    if hasattr(model, "bandwidth_") and model.bandwidth_ != kernel_bandwidth(model.kernel_):
        raise ValueError(f"bandwidth_ = {model.bandwidth_!r} is not the bandwidth of kernel_ {model.kernel_!r}")


def _random_features_consistent(model, dims) -> None:
    if not model.kernel_.has_features:
        raise ValueError(f"kernel_ {model.kernel_!r} has no random features")
    if model.feature_dim_ != model.kernel_.feature_dim(model.n_features_in_):
        raise ValueError(f"feature_dim_ = {model.feature_dim_}, but {model.kernel_!r} has "
                         f"{model.kernel_.feature_dim(model.n_features_in_)} features per weight")
    if model.n_output_features_ != model.n_features * model.feature_dim_:
        raise ValueError(f"n_output_features_ = {model.n_output_features_} is not n_features * feature_dim_ "
                         f"= {model.n_features * model.feature_dim_}")


def _feature_map_consistent(model, dims) -> None:
    """``features_`` is what the estimator's fit draws: same parameters (its alpha, see fit; for a
    CV over bandwidths, its kernel at the chosen ``bandwidth_``), and ``bandwidth_`` is its."""
    from .ridge.cv import check_alphas

    alpha = float(check_alphas(model.alphas).min()) if hasattr(model, "alphas") else float(model.alpha)
    # a CV that tunes the bandwidth draws its features_ with the kernel at the chosen bandwidth_
    kernel = model._kernel_at(model.bandwidth_) if hasattr(model, "_kernel_at") else None
    wanted = model._random_features(alpha, kernel=kernel).get_params(deep=False)
    if model.features_.get_params(deep=False) != wanted:
        raise ValueError("features_ was not drawn with the estimator's own parameters")
    if hasattr(model, "bandwidth_") and model.bandwidth_ != getattr(model.features_, "bandwidth_", None):
        raise ValueError(f"bandwidth_ = {model.bandwidth_!r} is not features_.bandwidth_")


def _nystroem_consistent(model, dims) -> None:
    """At most n_components centers (fewer when fitted on fewer rows), distinct sorted row
    indices, at most one output column per center, and a kernel with a closed form."""
    from .nystroem import check_closed_form

    centers = dims["?centers"]
    if centers > model.n_components:
        raise ValueError(f"{centers} centers but n_components = {model.n_components}")
    if model.n_output_features_ > centers:
        raise ValueError(f"n_output_features_ = {model.n_output_features_} exceeds the {centers} centers")
    index = model.center_indices_
    if centers and (int(index.min()) < 0 or not bool((index[1:] > index[:-1]).all())):
        raise ValueError("center_indices_ must be distinct non-negative row indices in increasing order")
    if (model.leverage_ is None) != (model.inclusion_probabilities_ is None):
        raise ValueError("leverage_ and inclusion_probabilities_ must be both set or both None")
    if model.leverage_ is not None and model.centers != "leverage":
        raise ValueError("leverage_ is set although centers is not 'leverage'")
    check_closed_form(model.kernel_, model.centers_[:1])


def _single_target_consistent(model, dims) -> None:
    if model._single_target and dims["?targets"] != 1:
        raise ValueError(f"_single_target is true but coefficients have {dims['?targets']} columns")


def _classes_consistent(model, dims) -> None:
    classes = model.classes_
    if len(classes) < 2 or not np.array_equal(np.unique(classes), classes):
        raise ValueError("classes_ must hold at least 2 distinct classes in sorted order")
    columns = 1 if len(classes) == 2 else len(classes)
    if dims["?targets"] != columns:
        raise ValueError(f"{len(classes)} classes need {columns} coefficient columns, got {dims['?targets']}")


def _cv_choice_consistent(model, dims) -> None:
    from .ridge.cv import check_alphas

    best = int(np.argmin(model.cv_mse_))
    if model.alpha_ != float(check_alphas(model.alphas)[best]) or model.best_score_ != -float(model.cv_mse_[best]):
        raise ValueError("alpha_ and best_score_ are not the best of cv_mse_ over alphas")


def _torch_dtype_consistent(model, dims) -> None:
    if model._torch_dtype != resolve_dtype(model.dtype):
        raise ValueError(f"_torch_dtype {model._torch_dtype} does not match dtype={model.dtype!r}")


def _scaler_consistent(model, dims) -> None:
    for flag, names in (("with_mean", ("mean_",)), ("with_std", ("var_", "scale_"))):
        for name in names:
            if getattr(model, flag) and getattr(model, name) is None:
                raise ValueError(f"{name} is missing although {flag}=True")


def _no_cache(model) -> None:
    if model.memory is not None:
        raise ValueError("a saved Pipeline must have memory=None")


def _pipeline_steps(model) -> list:
    return [step for _, step in model.steps if step is not None and step != "passthrough"]


def _pipeline_params(params: dict) -> dict:
    steps = params["steps"]
    if isinstance(steps, list):  # JSON has no tuples
        params["steps"] = [tuple(step) if isinstance(step, list) else step for step in steps]
    return params


_OUTPUT_CONFIG = optional(ScalarDict())  # set_output(transform=...) of scikit-learn transformers
_FEATURE_NAMES = optional(Array(("<U",), shape=("n_features_in_",), objects=True))

_RANDOM_FEATURES = {
    "n_features_in_": Int(min=1),
    "feature_names_in_": _FEATURE_NAMES,
    "kernel_": KernelKind(),
    "bandwidth_": optional(Float(none=True, min=0.0)),
    "weights_": Tensor(shape=("n_features", "n_features_in_")),
    "importance_": Tensor(shape=("n_features",)),
    "leverage_": Tensor(shape=("n_features",), none=True),
    "sampling_info_": ScalarDict(),
    "statistical_dimension_": Float(none=True, min=0.0),
    "sampling_alpha_": Float(none=True, min=0.0),
    "mixture_": Float(none=True, min=0.0, max=1.0),
    "feature_dim_": Int(min=1),
    "n_output_features_": Int(min=1),
    "_sklearn_output_config": _OUTPUT_CONFIG,
}
_FEATURE_RIDGE = {
    "n_features_in_": Int(min=1, equals="features_.n_features_in_"),
    "feature_names_in_": _FEATURE_NAMES,
    "features_": Estimator(classes=("RandomFeatures",)),
    "bandwidth_": optional(Float(none=True, min=0.0)),
    "coef_": Tensor(shape=("features_.n_output_features_", "?targets")),
    "intercept_": Tensor(shape=("?targets",)),
}
_NYSTROEM = {
    "n_features_in_": Int(min=1),
    "feature_names_in_": _FEATURE_NAMES,
    "kernel_": KernelKind(),
    "bandwidth_": optional(Float(none=True, min=0.0)),
    "centers_": Tensor(shape=("?centers", "n_features_in_")),
    "center_indices_": IndexTensor(shape=("?centers",)),
    "normalization_": Tensor(shape=("?centers", "n_output_features_")),
    # computed when first read (Nystroem.__getattr__): in a file only if it was read before saving
    "eigenvalues_": optional(Tensor(dtypes=("<f8",), shape=("?centers",))),
    "leverage_": Tensor(shape=("?centers",), none=True),
    "inclusion_probabilities_": Tensor(shape=("?centers",), none=True),
    "sampling_info_": ScalarDict(number_lists=True),
    "n_output_features_": Int(min=1),
    "_sklearn_output_config": _OUTPUT_CONFIG,
}
_NYSTROM_RIDGE = {**_FEATURE_RIDGE, "features_": Estimator(classes=("Nystroem",))}
_PRIMAL_SOLVE = {"jitter_": Float(min=0.0), "refine_residuals_": ListOf(item=Float(min=0.0, finite=False)),
                 # solver="auto"|"cholesky"|"cg" (issue 19): optional, so files written before it load
                 "solver_": optional(Choice(options=("cholesky", "cg"))), "n_iter_": optional(Int(min=0)),
                 "cg_residuals_": optional(ListOf(item=Float(min=0.0, finite=False)))}
_EXACT_RIDGE = {
    "n_features_in_": Int(min=1),
    "feature_names_in_": _FEATURE_NAMES,
    "_torch_dtype": TorchDtype(),
    "kernel_": KernelKind(),
    "bandwidth_": optional(Float(none=True, min=0.0)),
    "X_fit_": Tensor(shape=("?rows", "n_features_in_")),
    "dual_coef_": Tensor(shape=("?rows", "?targets")),
    "intercept_": Tensor(shape=("?targets",)),
    "jitter_": Float(min=0.0),
}
_CLASSES = Array(_LABELS, shape=("?classes",))
_LEVRF_CHECKS = ("_check_params",)
_SKLEARN_CHECKS = ("_validate_params",)

def _table_encoder_consistent(model, dims) -> None:
    """The encoded columns are columns the encoder saw, each once, and each category list is a
    sorted list of distinct values that contains its column's most frequent value."""
    seen = [str(c) for c in model.feature_names_in_]
    used = [*model.numeric_columns_, *model.categorical_columns_]
    if len(set(used)) != len(used) or not set(used) <= set(seen):
        raise ValueError("numeric_columns_ and categorical_columns_ must be distinct columns of feature_names_in_")
    for column, categories, mode in zip(model.categorical_columns_, model.categories_, model.modes_, strict=True):
        if categories != sorted(set(categories)) or mode not in categories:
            raise ValueError(f"categories_ of {column!r} must be sorted distinct values holding its mode {mode!r}")


#: every class a model file may name, with its learned state (add a class: add an entry)
SCHEMA: dict[str, ClassSchema] = {
    "RandomFeatures": ClassSchema(
        "levrf.features.RandomFeatures", _RANDOM_FEATURES, (*_LEVRF_CHECKS, "_sampler"),
        (_kernel_in_place, _random_features_consistent)),
    "RandomFeatureRidge": ClassSchema(
        "levrf.ridge.RandomFeatureRidge",
        {**_FEATURE_RIDGE, **_PRIMAL_SOLVE, "_single_target": Bool()},
        _LEVRF_CHECKS, (_feature_map_consistent, _single_target_consistent)),
    "RandomFeatureRidgeClassifier": ClassSchema(
        "levrf.ridge.RandomFeatureRidgeClassifier",
        {**_FEATURE_RIDGE, **_PRIMAL_SOLVE, "classes_": _CLASSES},
        _LEVRF_CHECKS, (_feature_map_consistent, _classes_consistent)),
    "RandomFeatureRidgeCV": ClassSchema(
        "levrf.ridge.RandomFeatureRidgeCV",
        {**_FEATURE_RIDGE, "_single_target": Bool(), "alpha_": Float(min=0.0), "best_score_": Float(max=0.0),
         "cv_mse_": Array(_FLOATS, shape=("alphas",)),
         "bandwidths_": optional(Array(_FLOATS, shape=("?bandwidths",), none=True)),
         "cv_mse_grid_": optional(Array(_FLOATS, shape=("?bandwidths", "alphas"))),
         "cv_results_": optional(Array(_FLOATS, shape=[("?rows", "alphas"), ("?rows", "?targets", "alphas")]))},
        _LEVRF_CHECKS, (_feature_map_consistent, _single_target_consistent, _cv_choice_consistent)),
    "Nystroem": ClassSchema(
        "levrf.nystroem.Nystroem", _NYSTROEM, _LEVRF_CHECKS, (_kernel_in_place, _nystroem_consistent)),
    "NystromRidge": ClassSchema(
        "levrf.ridge.NystromRidge",
        {**_NYSTROM_RIDGE, **_PRIMAL_SOLVE, "_single_target": Bool()},
        _LEVRF_CHECKS, (_feature_map_consistent, _single_target_consistent)),
    "NystromRidgeClassifier": ClassSchema(
        "levrf.ridge.NystromRidgeClassifier",
        {**_NYSTROM_RIDGE, **_PRIMAL_SOLVE, "classes_": _CLASSES},
        _LEVRF_CHECKS, (_feature_map_consistent, _classes_consistent)),
    "NystromRidgeCV": ClassSchema(
        "levrf.ridge.NystromRidgeCV",
        {**_NYSTROM_RIDGE, "_single_target": Bool(), "bandwidths_": optional(Array(_FLOATS, shape=("?bandwidths",), none=True)),
         "cv_mse_grid_": optional(Array(_FLOATS, shape=("?bandwidths", "alphas"))),
         "alpha_": Float(min=0.0), "best_score_": Float(max=0.0),
         "cv_mse_": Array(_FLOATS, shape=("alphas",)),
         "cv_results_": optional(Array(_FLOATS, shape=[("?rows", "alphas"), ("?rows", "?targets", "alphas")]))},
        _LEVRF_CHECKS, (_feature_map_consistent, _single_target_consistent, _cv_choice_consistent)),
    "KernelRidge": ClassSchema(
        "levrf.ridge.KernelRidge", {**_EXACT_RIDGE, "_single_target": Bool()}, _LEVRF_CHECKS,
        (_kernel_in_place, _torch_dtype_consistent, _single_target_consistent)),
    "KernelRidgeClassifier": ClassSchema(
        "levrf.ridge.KernelRidgeClassifier", {**_EXACT_RIDGE, "classes_": _CLASSES}, _LEVRF_CHECKS,
        (_kernel_in_place, _torch_dtype_consistent, _classes_consistent)),
    "StandardScaler": ClassSchema(
        "sklearn.preprocessing.StandardScaler",
        {"n_features_in_": Int(min=1), "feature_names_in_": _FEATURE_NAMES,
         "n_samples_seen_": AnyOf(kinds=(Int(min=0), Float(min=0.0),
                                         Array(("<i8", "<i4"), shape=("n_features_in_",)))),
         "mean_": Array(_FLOATS, shape=("n_features_in_",), none=True),
         "var_": Array(_FLOATS, shape=("n_features_in_",), none=True),
         "scale_": Array(_FLOATS, shape=("n_features_in_",), none=True),
         "_sklearn_output_config": _OUTPUT_CONFIG},
        _SKLEARN_CHECKS, (_scaler_consistent,)),
    "TableEncoder": ClassSchema(
        "levrf.tabular.TableEncoder",
        {"n_features_in_": Int(min=1), "feature_names_in_": Array(("<U",), shape=("n_features_in_",), objects=True),
         "numeric_columns_": ListOf(Str()), "categorical_columns_": ListOf(Str()),
         "medians_": Array(("<f8",), shape=("numeric_columns_",)),
         "categories_": ListOf(ListOf(Str()), length="categorical_columns_"),
         "modes_": ListOf(Str(), length="categorical_columns_"),
         "_sklearn_output_config": _OUTPUT_CONFIG},
        _LEVRF_CHECKS, (_table_encoder_consistent,)),
    "Pipeline": ClassSchema(
        "sklearn.pipeline.Pipeline", {"_sklearn_output_config": _OUTPUT_CONFIG},
        ("_validate_params", "_validate_steps", _no_cache), parts=_pipeline_steps, params=_pipeline_params),
    "TransformedTargetRegressor": ClassSchema(
        "sklearn.compose.TransformedTargetRegressor",
        {"_training_dim": Int(min=1, max=2),
         "transformer_": Estimator(classes=("StandardScaler",)),
         "regressor_": Estimator(classes=("Pipeline", "RandomFeatureRidge", "RandomFeatureRidgeCV", "KernelRidge",
                                          "NystromRidge", "NystromRidgeCV")),
         "feature_names_in_": optional(Array(("<U",), shape=("regressor_.n_features_in_",), objects=True))},
        _SKLEARN_CHECKS),
}


# ====================================================================== decoding helpers


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounds(low, high) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f">= {low}" if low is not None else f"<= {high}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _string(value, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING:
        raise ModelFileError(f"{where} must be a string of at most {MAX_STRING} characters, got {_short(value)}")
    return value


def _keys(node: dict, wanted: set[str], where: str) -> None:
    if set(node) != wanted:
        raise ModelFileError(f"{where} must have exactly the keys {sorted(wanted)}, got {sorted(map(str, node))}")


def _array_dtype(code, where: str, allowed: tuple[str, ...]) -> np.dtype:
    if not isinstance(code, str):
        raise ModelFileError(f"{where}: dtype must be a string, got {_short(code)}")
    match = _STRING_DTYPE.fullmatch(code)
    if code not in allowed and not (match and "<U" in allowed):
        raise ModelFileError(f"{where}: dtype {code!r} is not allowed here (allowed: {list(allowed)})")
    return np.dtype(code)


def _dim(spec, model, dims: dict, where: str, value: int) -> int:
    """Resolve one dimension ``spec`` (binding ``"?name"`` to ``value`` on first use)."""
    if isinstance(spec, int):
        return spec
    if spec.startswith("?"):
        return dims.setdefault(spec, value)
    target = model
    for part in spec.split("."):
        target = getattr(target, part)
    return int(target) if _is_int(target) or isinstance(target, np.integer) else len(target)


def _check_dim(value: int, spec, model, dims, where: str) -> None:
    expected = _dim(spec, model, dims, where, value)
    if value != expected:
        raise ModelFileError(f"{where} is {value} but must equal {spec} = {expected}")


def _check_shape(shape: tuple, shapes: list, model, dims, where: str) -> None:
    candidates = [s for s in shapes if len(s) == len(shape)]
    if not candidates:
        raise ModelFileError(f"{where} has {len(shape)} dimensions; expected {' or '.join(str(len(s)) for s in shapes)}")
    wanted = tuple(_dim(spec, model, dims, where, size) for spec, size in zip(candidates[0], shape, strict=True))
    if shape != wanted:
        raise ModelFileError(f"{where} has shape {shape}; expected {wanted} from {candidates[0]}")


def _decode_kernel(node, where: str) -> Kernel:
    if not isinstance(node, dict) or set(node) != {"__kernel__"}:
        raise ModelFileError(f"{where} must be a kernel entry, got {_short(node)}")
    kernel = kernel_from_spec(_string(node["__kernel__"], where))
    resolve_dtype(kernel.dtype, f"{where} dtype")
    resolve_device(kernel.device, f"{where} device")
    return kernel


def _decode_param(node, ctx: _Context, where: str):
    """A hyperparameter: JSON scalars and lists, kernels, estimators, small arrays, dtypes, devices.

    The values are then checked by the estimator's own parameter validation.
    """
    if node is None or isinstance(node, bool | int | float):
        return node
    if isinstance(node, str):
        return _string(node, where)
    if isinstance(node, list):
        if len(node) > MAX_ITEMS:
            raise ModelFileError(f"{where} has more than {MAX_ITEMS} items")
        return [_decode_param(v, ctx, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, dict) and len(node) == 1:
        (marker, value), = node.items()
        if marker == "__kernel__":
            return _decode_kernel(node, where)
        if marker == "__estimator__":
            return _decode_estimator(value, ctx, where, fitted=None)
        if marker == "__torch_dtype__":
            return TorchDtype().decode(node, ctx, where)
        if marker == "__torch_device__":
            return resolve_device(_string(value, where), where)
    if isinstance(node, dict) and "__array__" in node:
        return ctx.read_array(node, where, _LABELS)
    raise ModelFileError(f"{where} is not a valid hyperparameter entry: {_short(node)}")


def _is_fitted(model) -> bool:
    schema = SCHEMA[type(model).__name__]
    if not schema.required() <= set(vars(model)):
        return False
    return all(_is_fitted(part) for part in (schema.parts(model) if schema.parts else []))


def _decode_estimator(spec, ctx: _Context, where: str, *, fitted: bool | None) -> BaseEstimator:
    """Rebuild one estimator; ``fitted``: True must be fitted, None either (a hyperparameter)."""
    if not isinstance(spec, dict):
        raise ModelFileError(f"{where} must be an estimator object")
    _keys(spec, {"class", "params", "learned"}, where)
    name = spec["class"]
    if not isinstance(name, str) or name not in SCHEMA:
        raise ModelFileError(f"{where} names class {_short(name)}, which model files may not hold "
                             f"(allowed: {sorted(SCHEMA)})")
    schema, where = SCHEMA[name], f"{where} ({name})"
    cls = schema.load_class()
    params, learned = spec["params"], spec["learned"]
    if not isinstance(params, dict) or not isinstance(learned, dict):
        raise ModelFileError(f"{where}: params and learned must be objects")
    names = set(cls._get_param_names())
    absent = names - set(params)
    if absent and absent <= PARAMETERS_ADDED:  # a file written before these parameters existed
        names -= absent
    _keys(params, names, f"{where} params")
    values = {k: _decode_param(v, ctx, f"{where}.{k}") for k, v in params.items()}
    model = cls(**(schema.params(values) if schema.params else values))
    for check in schema.validate:
        if callable(check):
            check(model)
        else:
            getattr(model, check)()
    unknown = sorted(set(learned) - set(schema.learned))
    if unknown:
        raise ModelFileError(f"{where} sets learned attributes {unknown} outside the schema of {name}")
    shadowing = sorted(k for k in learned if hasattr(cls, k))
    if shadowing:  # the schema never lists such names; kept as a second line of defence
        raise ModelFileError(f"{where} learned attributes {shadowing} would shadow {name}'s own attributes")
    missing = sorted(schema.required() - set(learned))
    if learned and missing:
        raise ModelFileError(f"{where} misses learned attributes {missing}")
    outer_checks, outer_dtype = ctx.checks, ctx.model_dtype
    ctx.checks, ctx.model_dtype = [], getattr(model, "dtype", "float64")
    try:
        for key, node in learned.items():
            value = schema.learned[key].decode(node, ctx, f"{where}.{key}")
            if isinstance(value, _Declared):
                ctx.pending.append((model, key, value))
            vars(model)[key] = value
        dims: dict[str, int] = {}
        for check in ctx.checks:  # shapes and dimensions: the arrays are still placeholders
            check(model, dims)
    finally:
        ctx.checks, ctx.model_dtype = outer_checks, outer_dtype
    if fitted and not _is_fitted(model):
        raise ModelFileError(f"{where} is not fitted")
    if learned:
        ctx.rebuilt.append((model, schema, dims))
    return model


def _move_to_device(model) -> None:
    """Tensors are stored from the CPU; put them back on the (validated) device of the estimator."""
    device = getattr(model, "device", None)
    if device is None or resolve_device(device).type == "cpu":
        return
    for key, value in vars(model).items():
        if isinstance(value, torch.Tensor):
            vars(model)[key] = value.to(resolve_device(device))


# ====================================================================== reading the archive


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str, *,
                 exact: bool = False) -> bytearray:
    """Decompress one member as a stream; refuse it once it passes ``limit`` bytes.

    The size in the zip header is checked too, but not trusted: the running count decides.
    """
    if info.file_size > limit or (exact and info.file_size != limit):
        raise ModelFileError(f"{what} declares {info.file_size} bytes; "
                             f"{'expected' if exact else 'the limit is'} {limit}")
    buffer = bytearray(limit if exact else 0)  # an exact size was checked against the caps
    filled = 0
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(min(_CHUNK, limit - filled + 1))
            if not chunk:
                break
            if filled + len(chunk) > limit:
                raise ModelFileError(f"{what} decompresses to more than {limit} bytes")
            if exact:
                buffer[filled : filled + len(chunk)] = chunk
            else:
                buffer += chunk
            filled += len(chunk)
    if exact and filled != limit:
        raise ModelFileError(f"{what} holds {filled} bytes; expected {limit}")
    return buffer


def _open_archive(payload: bytes) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """Open the payload as a zip archive after bounding its member list; check every member."""
    eocd = struct.Struct("<4s4H2LH")  # end of central directory, no comment (levrf writes none)
    if len(payload) < eocd.size:
        raise ModelFileError("the payload is not a zip archive")
    sig, disk, cd_disk, n_here, n_total, cd_size, cd_offset, comment = eocd.unpack(payload[-eocd.size :])
    if sig != b"PK\x05\x06" or comment or disk or cd_disk or n_here != n_total:
        raise ModelFileError("the payload is not a levrf zip archive")
    if n_total > MAX_MEMBERS or cd_size > MAX_DIRECTORY_BYTES:
        raise ModelFileError(f"the archive lists {n_total} members in {cd_size} bytes; the limits are "
                             f"MAX_MEMBERS = {MAX_MEMBERS} and MAX_DIRECTORY_BYTES = {MAX_DIRECTORY_BYTES}")
    if cd_offset + cd_size != len(payload) - eocd.size:
        raise ModelFileError("the archive's member list is not where its end record says")
    archive = zipfile.ZipFile(io.BytesIO(payload))
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(infos) != n_total or len(set(names)) != len(names):
        raise ModelFileError("the archive has duplicate or miscounted members")
    declared = 0
    for info in infos:
        if info.filename != _MANIFEST and not _MEMBER_NAME.fullmatch(info.filename):
            raise ModelFileError(f"the archive holds an unexpected member {_short(info.filename)}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
            raise ModelFileError(f"member {info.filename!r} is encrypted or uses an unsupported compression")
        declared += info.file_size
    if declared > MAX_DECOMPRESSED_BYTES:
        raise ModelFileError(f"the members declare {declared} bytes; the limit is MAX_DECOMPRESSED_BYTES = "
                             f"{MAX_DECOMPRESSED_BYTES}")
    if _MANIFEST not in names:
        raise ModelFileError("the archive has no manifest.json")
    return archive, dict(zip(names, infos, strict=True))


def _json_depth(obj) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def _read_manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    raw = _read_member(archive, info, MAX_MANIFEST_BYTES, "manifest.json")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ModelFileError(f"manifest.json is nested deeper than MAX_JSON_DEPTH = {MAX_JSON_DEPTH}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"manifest.json is not valid JSON: {exc}") from None
    if _json_depth(manifest) > MAX_JSON_DEPTH:
        raise ModelFileError(f"manifest.json is nested deeper than MAX_JSON_DEPTH = {MAX_JSON_DEPTH}")
    if not isinstance(manifest, dict):
        raise ModelFileError("manifest.json must hold an object")
    _keys(manifest, {"format_version", "model"}, "manifest.json")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ModelFileError("the manifest's format version does not match the header")
    return manifest


# ====================================================================== writing


def _encode(obj, where: str, arrays: dict[str, np.ndarray]) -> object:
    """Plain JSON for ``obj``; tensors and arrays go into ``arrays`` under a member name."""
    if isinstance(obj, torch.Tensor):
        node = _encode(obj.detach().cpu().numpy(), where, arrays)
        return {"__tensor__": node.pop("__array__"), **node}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            obj = obj.astype(str)
        order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
        obj = np.asarray(obj, dtype=obj.dtype.newbyteorder("<"), order=order)
        name = f"arrays/{len(arrays)}.bin"
        arrays[name] = obj
        return {"__array__": name, "dtype": obj.dtype.str, "shape": list(obj.shape), "order": order}
    if isinstance(obj, Kernel):
        return {"__kernel__": kernel_to_spec(obj)}
    if isinstance(obj, torch.dtype):
        return {"__torch_dtype__": str(obj).removeprefix("torch.")}
    if isinstance(obj, torch.device):
        return {"__torch_device__": str(obj)}
    if isinstance(obj, BaseEstimator):
        return {"__estimator__": _encode_estimator(obj, where, arrays)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": {str(k): _encode(v, f"{where}.{k}", arrays) for k, v in obj.items()}}
    if isinstance(obj, list | tuple):
        return [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot save attribute {where!r} of type {type(obj).__name__}")


def _encode_estimator(model: BaseEstimator, where: str, arrays: dict) -> dict:
    name = type(model).__name__
    if name not in SCHEMA or type(model) is not SCHEMA[name].load_class():
        raise TypeError(f"save supports {sorted(SCHEMA)}, got {type(model).__name__}")
    schema = SCHEMA[name]
    params = model.get_params(deep=False)
    # learned state: sklearn's trailing-underscore attributes and private ones such as _single_target
    state = {k: v for k, v in vars(model).items()
             if k not in params and not k.startswith("__") and (k.endswith("_") or k.startswith("_"))}
    outside = sorted(set(state) - set(schema.learned))
    if outside:
        raise TypeError(f"{name} attributes {outside} are not part of the model file schema; "
                        "remove them before saving")
    return {
        "class": name,
        "params": {k: _encode(v, f"{where}.{k}", arrays) for k, v in params.items()},
        "learned": {k: _encode(v, f"{where}.{k}", arrays) for k, v in state.items()},
    }


def _check_key(key) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"key must be bytes or str, got {type(key).__name__}")
    if not key:
        raise ValueError("key must not be empty")
    return bytes(key)


def _tag(key: bytes, prefix: bytes, payload: bytes) -> bytes:
    mac = hmac.new(key, prefix, hashlib.sha256)
    mac.update(payload)
    return mac.digest()


def _payload(model: BaseEstimator) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    manifest = {"format_version": FORMAT_VERSION, "model": _encode_estimator(model, "model", arrays)}
    text = json.dumps(manifest).encode("utf-8")
    total = sum(a.nbytes for a in arrays.values()) + len(text)
    if (len(arrays) + 1 > MAX_MEMBERS or len(text) > MAX_MANIFEST_BYTES or total > MAX_DECOMPRESSED_BYTES
            or any(a.size > MAX_ARRAY_ELEMENTS or a.ndim > MAX_ARRAY_NDIM for a in arrays.values())):
        raise ValueError(f"model is too large for a model file: {len(arrays)} arrays, {total} bytes "
                         f"(limits: MAX_MEMBERS, MAX_DECOMPRESSED_BYTES = {MAX_DECOMPRESSED_BYTES}, ...)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MANIFEST, text)
        for name, array in arrays.items():
            with archive.open(name, "w") as member:
                member.write(array.ravel(order="K").view(np.uint8))  # memory order, no copy
    return buffer.getvalue()


def _write_atomically(path: Path, blob: bytes) -> None:
    """Write ``blob`` to a fresh, unpredictable temporary file beside ``path``, then rename it.

    The temporary file is created exclusively and never through a symlink (O_EXCL | O_NOFOLLOW),
    fsync'ed before the rename, and removed if anything fails; ``path`` is either its old
    content or the complete new one.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 64 random bits
        raise FileExistsError(f"could not create a temporary file beside {str(path)!r}")
    done = False
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        done = True
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def save(model: BaseEstimator, path: str | Path, *, key: bytes | str | None = None) -> Path:
    """Write a fitted levrf estimator (or a scikit-learn wrapper of one) to ``path``.

    Parameters
    ----------
    model : fitted estimator
        One of the classes of :data:`SCHEMA` (levrf's estimators, ``Pipeline``,
        ``StandardScaler``, ``TransformedTargetRegressor``), with built-in kernels only.
    path : str or Path
        The file to write (suggested suffix ``.levrf``); replaced atomically if it exists.
    key : bytes or str, optional
        Secret key (a str is encoded as UTF-8): the file then carries an HMAC-SHA256 tag and
        :func:`load` accepts it only with the same key.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(model, BaseEstimator):
        raise TypeError(f"model must be a levrf estimator, got {type(model).__name__}")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    secret = _check_key(key)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a directory; give a file name such as model.levrf")
    check_is_fitted(model)  # NotFittedError is a ValueError
    payload = _payload(model)
    prefix = MAGIC + _PREFIX.pack(FORMAT_VERSION, AUTH_NONE if secret is None else AUTH_HMAC_SHA256)
    tag = bytes(_DIGEST) if secret is None else _tag(secret, prefix, payload)
    blob = prefix + hashlib.sha256(payload).digest() + tag + payload
    if len(blob) > MAX_MODEL_BYTES:
        raise ValueError(f"model file would take {len(blob)} bytes; the limit is MAX_MODEL_BYTES = {MAX_MODEL_BYTES}")
    _write_atomically(path, blob)
    return path


# ====================================================================== reading


def load(path: str | Path, *, key: bytes | str | None = None,
         expected: type | tuple[type, ...] | None = None) -> BaseEstimator:
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or Path
    key : bytes or str, optional
        The key the file was saved with. A file saved with a key is refused without it or with
        another one; a file saved without a key is refused when a key is given.
    expected : class or tuple of classes, optional
        The loaded model must be an instance of it.

    Returns
    -------
    estimator

    Raises
    ------
    ModelFileError
        For any file that is not a complete, consistent levrf model file (or fails the key).
    FileNotFoundError
        If ``path`` does not exist.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    secret = _check_key(key)
    classes = expected if isinstance(expected, tuple) else (expected,)
    if expected is not None and not all(isinstance(c, type) for c in classes):
        raise TypeError(f"expected must be a class or a tuple of classes, got {expected!r}")
    model = _load(Path(path), secret)
    if expected is not None and not isinstance(model, expected):
        names = [c.__name__ for c in classes]
        raise ModelFileError(f"{str(path)!r} holds a {type(model).__name__}, expected {' or '.join(names)}")
    return model


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, refusing a file over MAX_MODEL_BYTES before reading it."""
    if path.is_dir():
        raise IsADirectoryError(f"model file {str(path)!r} is a directory")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"model file {str(path)!r} does not exist") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"{str(path)!r} is not a regular file")
        if info.st_size > MAX_MODEL_BYTES:
            raise ModelFileError(f"{str(path)!r} has {info.st_size} bytes; the limit is MAX_MODEL_BYTES = "
                                 f"{MAX_MODEL_BYTES}")
        data = handle.read(info.st_size + 1)  # read(n) reserves n bytes: never more than the file
    if len(data) != info.st_size:
        raise ModelFileError(f"{str(path)!r} changed size while being read")
    return data


def _load(path: Path, secret: bytes | None) -> BaseEstimator:
    data = _read_bounded(path)
    try:
        payload = _authenticated_payload(data, secret)
        archive, members = _open_archive(payload)
        with archive:
            manifest = _read_manifest(archive, members[_MANIFEST])
            ctx = _Context(archive, members)
            model = _decode_estimator(manifest["model"], ctx, "model", fitted=True)
            unused = sorted(set(members) - ctx.used - {_MANIFEST})
            if unused:
                raise ModelFileError(f"the archive holds members no attribute refers to: {unused[:5]}")
            ctx.materialize()
        check_is_fitted(model)
    except ModelFileError as exc:
        raise ModelFileError(f"model file {str(path)!r} refused: {exc}") from None
    except Exception as exc:  # a bad file must never surface as a torch, sklearn or internal error
        raise ModelFileError(f"model file {str(path)!r} refused: {type(exc).__name__}: {exc}") from exc
    return model


def _authenticated_payload(data: bytes, secret: bytes | None) -> bytes:
    """The payload after the header's checks: magic, version, checksum and key."""
    if len(data) < len(MAGIC) + _PREFIX.size or not data.startswith(MAGIC):
        raise ModelFileError("not a levrf model file")
    version, auth = _PREFIX.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        older = version < FORMAT_VERSION
        raise ModelFileError(f"model format version {version} was written by {'an older' if older else 'a newer'} "
                             f"levrf; this levrf reads only version {FORMAT_VERSION}"
                             + (" (re-fit the model and save it again)" if older else ""))
    if len(data) < _HEADER:
        raise ModelFileError("the file is truncated")
    if auth not in (AUTH_NONE, AUTH_HMAC_SHA256):
        raise ModelFileError(f"unknown authentication scheme {auth}")
    prefix = data[: len(MAGIC) + _PREFIX.size]
    digest = data[len(prefix) : len(prefix) + _DIGEST]
    tag, payload = data[len(prefix) + _DIGEST : _HEADER], data[_HEADER:]
    if hashlib.sha256(payload).digest() != digest:
        raise ModelFileError("the file is damaged or was altered: checksum mismatch")
    if auth == AUTH_HMAC_SHA256 and secret is None:
        raise ModelFileError("the file was saved with a key: pass key= (LEVRF_MODEL_KEY for the CLI) to load it")
    if auth == AUTH_NONE and secret is not None:
        raise ModelFileError("a key was given but the file carries no authentication tag (a forger would "
                             "simply drop the tag)")
    if secret is not None and not hmac.compare_digest(tag, _tag(secret, prefix, payload)):
        raise ModelFileError("authentication failed: wrong key, or the file was altered")
    return payload
