"""Input checking shared by every public function.

Every check raises ``ValueError`` or ``TypeError`` with a message that names the offending
argument, so that a user sees at once what to fix.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_dtype(dtype: str | torch.dtype, name: str = "dtype") -> torch.dtype:
    """Map ``"float64"``/``"float32"`` (or a torch dtype) to a torch floating dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"{name} must be float64 or float32, got {dtype}")
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    if dtype is np.float64 or dtype is np.float32:
        return _DTYPES[np.dtype(dtype).name]
    raise ValueError(f"{name} must be 'float64' or 'float32', got {dtype!r}")


_DEVICE_HELP = "'cpu', or 'cuda' / 'cuda:N' on a machine with CUDA"


def resolve_device(device: str | torch.device | None, name: str = "device") -> torch.device:
    """Return a torch device that levrf can compute on: the CPU, or a CUDA device that exists.

    ``None`` means the CPU. Names torch does not know, devices without storage (``"meta"``),
    CUDA without CUDA, a CUDA index beyond the devices present and other backends all raise a
    ``ValueError`` naming ``name``.
    """
    if device is None:
        return torch.device("cpu")
    if not isinstance(device, str | torch.device):
        raise TypeError(f"{name} must be a string such as 'cpu' or 'cuda', got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} must name a torch device ({_DEVICE_HELP}), got {device!r}") from exc
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={device!r} was requested but CUDA is not available; use {name}='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}={device!r} was requested but this machine has {torch.cuda.device_count()} "
                f"CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
        return dev
    raise ValueError(f"{name}={device!r} is not supported: levrf computes on {_DEVICE_HELP}")


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def check_positive_int(value, name: str) -> int:
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_probability(value, name: str) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")
    return value


def as_matrix(
    X,
    name: str = "X",
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    allow_empty: bool = False,
) -> torch.Tensor:
    """Convert NumPy/pandas/torch/list input to a finite 2-D torch tensor.

    Raises ``TypeError`` for non-numeric data and ``ValueError`` for wrong rank, empty input
    and NaN/inf entries.
    """
    if X is None:
        raise ValueError(f"{name} must be a 2-D array, got None")
    if isinstance(X, torch.Tensor):
        if X.is_complex() or X.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
        T = X.detach()
    else:
        if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
            X = X.to_numpy()
        try:
            A = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
        if A.dtype == object:
            try:
                A = A.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must hold numbers; found non-numeric entries") from exc
        if A.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
        T = numpy_to_torch(A.astype(np.float64, copy=False), name=name)
    if T.ndim != 2:
        hint = " (reshape a single feature with X.reshape(-1, 1))" if T.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(T.shape)}{hint}")
    if not allow_empty and (T.shape[0] == 0 or T.shape[1] == 0):
        raise ValueError(f"{name} must have at least one row and one column, got shape {tuple(T.shape)}")
    # a tensor on a device without storage ("meta") cannot be checked for NaN: refuse it here
    target = device if device is not None else resolve_device(T.device, name=f"{name}'s device")
    T = T.to(device=target, dtype=dtype)
    if not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return T


#: seeds drawn from a NumPy generator lie in [0, SEED_BOUND)
SEED_BOUND = 2**31 - 1


def check_random_state(random_state, name: str = "random_state") -> int:
    """The seed that a public ``random_state`` argument stands for, as an int.

    ``None`` means seed 0 (levrf never draws from an unseeded source); an int >= 0 is the seed;
    a ``numpy.random.Generator`` or ``numpy.random.RandomState`` gives one seed drawn from it,
    scikit-learn's convention: such an object advances, so each call (each fit) gets a new
    seed. A ``torch.Generator`` is refused: an estimator or network would share its state, so
    refits would differ and the model could not be saved.
    """
    if random_state is None:
        return 0
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, SEED_BOUND))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, SEED_BOUND))
    if isinstance(random_state, torch.Generator):
        raise TypeError(
            f"{name} must be None, an int or a numpy.random.Generator, got a torch.Generator; "
            f"pass an int seed instead (e.g. {name}=0)"
        )
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"{name} must be None, an int or a numpy.random.Generator, got {type(random_state).__name__}"
        )
    if not 0 <= random_state < 2**64:
        raise ValueError(f"{name} must be an int in [0, 2**64), got {random_state}")
    return int(random_state)


def as_generator(
    random_state, device: torch.device | str = "cpu", name: str = "random_state"
) -> torch.Generator:
    """Turn a seed (see :func:`check_random_state`) or a ``torch.Generator`` into a ``torch.Generator``.

    For internal ``generator`` arguments, which may pass a ``torch.Generator`` on (it is
    returned as it is). Public ``random_state`` parameters go through
    :func:`check_random_state` first, which refuses torch generators. ``name`` is the
    argument's name in error messages.
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    try:
        seed = check_random_state(random_state, name)
    except TypeError:
        raise TypeError(
            f"{name} must be None, an int, a numpy.random.Generator or a torch.Generator, "
            f"got {type(random_state).__name__}"
        ) from None
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(seed)
    return gen


def check_network_input(
    X,
    in_features: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    name: str = "X",
    check_finite: bool = True,
) -> torch.Tensor:
    """Input of a network: a finite (n, in_features) tensor in the network's dtype and on its device.

    Like :func:`as_matrix`, but a torch tensor keeps its autograd graph (the cast is
    differentiable), and the width is checked against the network's ``in_features``.
    ``check_finite=False`` skips the one check that reads values (not possible under
    ``torch.func`` transforms; the caller checks those inputs before the transform).
    """
    if not isinstance(X, torch.Tensor):
        T = as_matrix(X, name, dtype=dtype, device=device)
    else:
        if X.is_complex() or X.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
        if X.ndim != 2:
            hint = " (reshape a single example with X.reshape(1, -1))" if X.ndim == 1 else ""
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}{hint}")
        T = X.to(device=device, dtype=dtype)
        if check_finite and not bool(torch.isfinite(T).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    check_n_features(T, in_features, name)
    return T


def check_n_features(T: torch.Tensor, in_features: int, name: str = "X") -> None:
    """``T`` (n, k) must have ``k == in_features`` columns, the width the network was built for."""
    if T.shape[1] != in_features:
        raise ValueError(
            f"{name} has {T.shape[1]} columns but the network was built for in_features={in_features}"
        )


def as_vector(values, size: int, name: str, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A finite tensor of ``size`` real numbers (any shape with that many entries is flattened)."""
    if values is None:
        raise ValueError(f"{name} must be an array of {size} numbers, got None")
    if isinstance(values, torch.Tensor):
        if values.is_complex() or values.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {values.dtype}")
        resolve_device(values.device, name=f"{name}'s device")
        T = values.detach()
    else:
        A = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
        if A.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
        T = numpy_to_torch(A, torch.float64, copy=True, name=name)
    T = T.reshape(-1).to(device=device, dtype=dtype)
    if T.numel() != size:
        raise ValueError(f"{name} must have {size} entries, got {T.numel()}")
    if not bool(torch.isfinite(T).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return T


# ====================================================================== parameter tables
#
# Each estimator declares its constructor parameters once, as a class attribute
# ``_parameter_constraints = {name: constraint}`` (scikit-learn's convention, levrf's own small
# constraint objects); :func:`validate_parameters` checks them all in one call per fit. A
# constraint is either one of the classes below or a list of them, meaning "any of these".


class Constraint:
    """One allowed kind of value of a parameter.

    ``matches_type(value)``: the value is of the right kind (else, when no constraint of the
    parameter matches, a ``TypeError``); ``check(value, name)``: raise ``ValueError`` when the
    value is of the right kind but out of range; ``describe()``: what is expected, for messages.
    """

    def matches_type(self, value) -> bool:
        raise NotImplementedError

    def check(self, value, name: str) -> None:
        return None

    def describe(self) -> str:
        raise NotImplementedError


class NoneValue(Constraint):
    """``None``."""

    def matches_type(self, value) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


class Integer(Constraint):
    """An integer (not a bool) ``>= low`` (and ``<= high`` when given)."""

    def __init__(self, low: int = 1, high: int | None = None) -> None:
        self.low, self.high = low, high

    def matches_type(self, value) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def check(self, value, name: str) -> None:
        if value < self.low or (self.high is not None and value > self.high):
            raise ValueError(f"{name} must be {self.describe()}, got {value}")

    def describe(self) -> str:
        if self.high is None:
            return f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"


class Real(Constraint):
    """A finite real number (not a bool) ``> low`` (``>= low`` with ``closed=True``)."""

    def __init__(self, low: float = 0.0, *, closed: bool = False) -> None:
        self.low, self.closed = low, closed

    def matches_type(self, value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    def check(self, value, name: str) -> None:
        value = float(value)
        ok = value >= self.low if self.closed else value > self.low
        if not (np.isfinite(value) and ok):
            raise ValueError(f"{name} must be {self.describe()}, got {value}")

    def describe(self) -> str:
        return f"a finite number {'>=' if self.closed else '>'} {self.low:g}"


class Boolean(Constraint):
    """``True`` or ``False`` (NumPy booleans too)."""

    def matches_type(self, value) -> bool:
        return isinstance(value, bool | np.bool_)

    def describe(self) -> str:
        return "True or False"


class Options(Constraint):
    """One of some strings."""

    def __init__(self, *options: str) -> None:
        self.options = options

    def matches_type(self, value) -> bool:
        return isinstance(value, str)

    def check(self, value, name: str) -> None:
        if value not in self.options:
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


class Checked(Constraint):
    """A value accepted by an existing check ``fn(value, name)``, which raises its own
    levrf-style ``TypeError``/``ValueError`` (e.g. :func:`resolve_dtype`)."""

    def __init__(self, fn, description: str) -> None:
        self.fn, self.description = fn, description

    def matches_type(self, value) -> bool:
        return True

    def check(self, value, name: str) -> None:
        self.fn(value, name)

    def describe(self) -> str:
        return self.description


def _kind(value) -> str:
    return repr(value) if isinstance(value, str | bool | numbers.Number) or value is None else type(value).__name__


def check_parameter(value, name: str, constraint) -> None:
    """Check one parameter against a constraint or a list of alternatives; raise ``TypeError``
    when no alternative accepts its type, ``ValueError`` when one does but the value is out of
    range (naming ``name`` and what was expected)."""
    options = constraint if isinstance(constraint, list | tuple) else [constraint]
    typed = [c for c in options if c.matches_type(value)]
    if not typed:
        expected = " or ".join(c.describe() for c in options)
        raise TypeError(f"{name} must be {expected}, got {_kind(value)}")
    errors = []
    for c in typed:
        try:
            c.check(value, name)
            return
        except (TypeError, ValueError) as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise ValueError(f"{name} must be {' or '.join(c.describe() for c in options)}, got {_kind(value)}")


def validate_parameters(est, constraints: dict | None = None) -> None:
    """Check every parameter of ``est`` named in ``constraints`` (default: the class's
    ``_parameter_constraints``) in one pass; parameters missing from the table are not checked."""
    table = type(est)._parameter_constraints if constraints is None else constraints
    for name, constraint in table.items():
        check_parameter(getattr(est, name), name, constraint)


class ValidatedParameters:
    """Mixin: ``_validate_params()`` checks the class's ``_parameter_constraints`` table, then
    the cross-parameter rules of ``_validate_extra()``; called once at the start of every fit.

    ``_check_params`` is the same method under the name the model-file loader calls.
    """

    _parameter_constraints: dict = {}

    def _validate_params(self) -> None:
        validate_parameters(self)
        self._validate_extra()

    def _validate_extra(self) -> None:
        """Rules that involve several parameters (subclasses override)."""

    def _check_params(self) -> None:
        self._validate_params()


# ====================================================================== keyword-only parameters


def deprecate_positional_args(init=None, *, legacy_names=None):
    """Decorate an ``__init__`` whose parameters after the first are keyword-only, so that the old
    positional calls keep working for one release with a ``FutureWarning`` naming the arguments.

    Positional arguments beyond those the signature allows are bound, in order, to the
    keyword-only parameters (the old positional order). ``legacy_names(args)``, if given,
    returns the names of an old positional order for the positional ``args`` (after ``self``),
    or ``None`` to use the default binding: how ``RandomFeatureRidgeCV(alphas)`` is told from
    ``RandomFeatureRidgeCV(kernel)``.
    """
    import functools
    import inspect
    import warnings

    def decorate(fn):
        params = list(inspect.signature(fn).parameters.values())[1:]
        positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        keyword_only = [p.name for p in params if p.kind == p.KEYWORD_ONLY]

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            names = legacy_names(args) if legacy_names is not None and args else None
            if names is None:
                if len(args) <= len(positional):
                    return fn(self, *args, **kwargs)
                names = positional + keyword_only
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__}() takes at most {len(names)} positional arguments, "
                                f"got {len(args)}")
            bound = dict(zip(names, args, strict=False))
            moved = [n for n in bound if not (n in positional and names.index(n) == positional.index(n))]
            clash = sorted(set(bound) & set(kwargs))
            if clash:
                raise TypeError(f"{type(self).__name__}() got multiple values for {clash}")
            warnings.warn(
                f"passing {', '.join(moved)} positionally to {type(self).__name__}() is deprecated and will "
                f"be an error in the next release; pass "
                f"{', '.join(f'{n}=...' for n in moved)} as keyword argument(s)",
                FutureWarning,
                stacklevel=2,
            )
            return fn(self, **bound, **kwargs)

        return wrapper

    return decorate if init is None else decorate(init)


def check_random_state_value(random_state, name: str = "random_state") -> None:
    """What :func:`check_random_state` accepts, checked without drawing from a generator."""
    if not isinstance(random_state, np.random.Generator | np.random.RandomState):
        check_random_state(random_state, name)


# ------------------------------------------------------------------ dtype names and NumPy → torch
# (issue 15: the one dtype-name table is ``_DTYPES`` above; the one NumPy → torch conversion is
# :func:`numpy_to_torch`)


def dtype_name(dtype: str | torch.dtype, name: str = "dtype") -> str:
    """The name (``"float64"``/``"float32"``) of a dtype :func:`resolve_dtype` accepts: its inverse."""
    torch_dtype = resolve_dtype(dtype, name)
    return next(key for key, value in _DTYPES.items() if value == torch_dtype)


def numpy_dtype(dtype: str | torch.dtype, name: str = "dtype") -> np.dtype:
    """The NumPy dtype of the same name as a dtype :func:`resolve_dtype` accepts."""
    return np.dtype(dtype_name(dtype, name))


def numpy_to_torch(
    A,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    *,
    copy: bool = False,
    name: str = "array",
) -> torch.Tensor:
    """A NumPy array (or anything ``np.asarray`` takes) as a C-contiguous torch tensor.

    Shares the array's memory when it can (C-contiguous, writeable, same dtype, CPU) unless
    ``copy``; read-only arrays (memmaps, broadcast views) are copied, since torch cannot wrap them
    safely. ``dtype`` (``None``: the array's own) must be one :func:`resolve_dtype` accepts;
    ``device`` (``None``: the CPU) one :func:`resolve_device` accepts.
    """
    try:
        A = np.asarray(A)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    if not A.flags.c_contiguous:
        A = np.ascontiguousarray(A)
    elif copy or not A.flags.writeable:
        A = A.copy()
    T = torch.from_numpy(A)
    target_dtype = T.dtype if dtype is None else resolve_dtype(dtype)
    out = T.to(device=resolve_device(device), dtype=target_dtype)
    if target_dtype.is_floating_point and T.is_floating_point() and torch.finfo(target_dtype).max < torch.finfo(T.dtype).max:
        # values finite in A can overflow a narrower dtype (1e39 in float32): refuse them by name
        if not bool(torch.isfinite(out).all()) and bool(torch.isfinite(T).all()):
            raise ValueError(
                f"{name} is not finite in {dtype_name(target_dtype)}: its values beyond "
                f"±{torch.finfo(target_dtype).max:.3g} overflow; rescale {name} or use dtype='float64'"
            )
    return out
