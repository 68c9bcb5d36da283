"""Safe model files: ``save(model, path)`` and ``load(path)``.

A model file is ``MAGIC | format version (4 bytes) | SHA-256 of the payload | payload``, where
the payload is a zip archive holding ``manifest.json`` (class name, constructor parameters,
plain learned attributes) and ``arrays.npz`` (tensors and arrays, loaded with
``allow_pickle=False``). Loading never executes code from the file: classes come from a fixed
registry of levrf estimators and kernels are rebuilt from their text specs. A truncated or
altered file fails the checksum; an unknown version is refused; both raise ``ValueError``.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .kernels import Kernel, kernel_from_spec, kernel_to_spec

MAGIC = b"LEVRF-MODEL\x00"
FORMAT_VERSION = 1
_HEADER = len(MAGIC) + 4 + 32
_TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class ModelFileError(ValueError):
    """A model file was refused: not a levrf model, damaged, forged, over a limit or off-schema."""


def _registry() -> dict[str, type]:
    """The only classes a model file may name: levrf's estimators and three sklearn wrappers."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import levrf
    from levrf.tabular import TableEncoder

    names = [
        "RandomFeatures", "KernelRidge", "RandomFeatureRidge", "RandomFeatureRidgeCV",
        "KernelRidgeClassifier", "RandomFeatureRidgeClassifier",
    ]
    registry = {name: getattr(levrf, name) for name in names if hasattr(levrf, name)}
    registry.update(Pipeline=Pipeline, StandardScaler=StandardScaler,
                    TransformedTargetRegressor=TransformedTargetRegressor, TableEncoder=TableEncoder)
    return registry


def _encode(obj, prefix: str, arrays: dict) -> object:
    """Plain JSON for ``obj``; tensors and arrays go into ``arrays`` under a key."""
    if isinstance(obj, torch.Tensor):
        arrays[prefix] = obj.detach().cpu().numpy()
        return {"__tensor__": prefix, "dtype": str(obj.dtype).removeprefix("torch.")}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            obj = obj.astype(str)
        arrays[prefix] = obj
        return {"__array__": prefix}
    if isinstance(obj, Kernel):
        return {"__kernel__": kernel_to_spec(obj)}
    if isinstance(obj, torch.dtype):
        return {"__torch_dtype__": str(obj).removeprefix("torch.")}
    if isinstance(obj, torch.device):
        return {"__torch_device__": str(obj)}
    if isinstance(obj, BaseEstimator):
        return {"__estimator__": _encode_estimator(obj, prefix, arrays)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": {str(k): _encode(v, f"{prefix}.{k}", arrays) for k, v in obj.items()}}
    if isinstance(obj, list | tuple):
        return [_encode(v, f"{prefix}.{i}", arrays) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot save attribute {prefix!r} of type {type(obj).__name__}")


def _encode_estimator(model: BaseEstimator, prefix: str, arrays: dict) -> dict:
    cls = type(model).__name__
    if cls not in _registry():
        raise TypeError(f"save supports {sorted(_registry())}, got {cls}")
    params = {k: _encode(v, f"{prefix}.param.{k}", arrays) for k, v in model.get_params(deep=False).items()}
    # learned state: sklearn's trailing-underscore attributes and private flags such as
    # ``_single_target``; constructor parameters are stored above, dunders never
    learned = {
        k: _encode(v, f"{prefix}.{k}", arrays)
        for k, v in vars(model).items()
        if k not in params and not k.startswith("__") and (k.endswith("_") or k.startswith("_"))
    }
    return {"class": cls, "params": params, "learned": learned}


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return torch.from_numpy(np.array(arrays[obj["__tensor__"]]))
    if "__array__" in obj:
        return np.array(arrays[obj["__array__"]])
    if "__kernel__" in obj:
        return kernel_from_spec(obj["__kernel__"])
    if "__torch_dtype__" in obj:
        if obj["__torch_dtype__"] not in _TORCH_DTYPES:
            raise ValueError(f"model file names an unknown dtype {obj['__torch_dtype__']!r}")
        return _TORCH_DTYPES[obj["__torch_dtype__"]]
    if "__torch_device__" in obj:
        return torch.device(str(obj["__torch_device__"]))
    if "__estimator__" in obj:
        return _decode_estimator(obj["__estimator__"], arrays)
    if "__dict__" in obj:
        return {k: _decode(v, arrays) for k, v in obj["__dict__"].items()}
    raise ValueError("model file manifest holds an unknown entry")


def _decode_estimator(spec: dict, arrays) -> BaseEstimator:
    registry = _registry()
    if spec.get("class") not in registry:
        raise ValueError(f"model file names an unknown class {spec.get('class')!r}")
    params = {k: _decode(v, arrays) for k, v in spec["params"].items()}
    if spec["class"] == "Pipeline":
        params["steps"] = [tuple(step) for step in params["steps"]]
    model = registry[spec["class"]](**params)
    for key, value in spec["learned"].items():
        value = _decode(value, arrays)
        if key == "feature_names_in_":
            value = np.asarray(value, dtype=object)  # sklearn keeps column names as objects
        setattr(model, key, value)
    return model


def save(model: BaseEstimator, path: str | Path) -> Path:
    """Write a fitted levrf estimator to ``path`` (suggested suffix ``.levrf``)."""
    if not isinstance(model, BaseEstimator):
        raise TypeError(f"model must be a levrf estimator, got {type(model).__name__}")
    check_is_fitted(model)  # NotFittedError is a ValueError
    arrays: dict[str, np.ndarray] = {}
    manifest = {"format_version": FORMAT_VERSION, "model": _encode_estimator(model, "m", arrays)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        npz = io.BytesIO()
        np.savez(npz, **arrays)
        archive.writestr("arrays.npz", npz.getvalue())
    payload = buffer.getvalue()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(MAGIC + struct.pack("<I", FORMAT_VERSION) + hashlib.sha256(payload).digest() + payload)
    tmp.replace(path)  # never leave a half-written model file behind
    return path


def load(path: str | Path, *, expected: type | tuple[type, ...] | None = None) -> BaseEstimator:
    """Read a model written by :func:`save`; ``ModelFileError`` for a damaged or foreign file.

    ``expected``: a class (or tuple of classes) the loaded model must be an instance of.
    """
    model = _load(path)
    if expected is not None and not isinstance(model, expected):
        names = [c.__name__ for c in (expected if isinstance(expected, tuple) else (expected,))]
        raise ModelFileError(f"{str(path)!r} holds a {type(model).__name__}, expected {' or '.join(names)}")
    return model


def _load(path: str | Path) -> BaseEstimator:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    data = path.read_bytes()
    if len(data) < _HEADER or not data.startswith(MAGIC):
        raise ModelFileError(f"{str(path)!r} is not a levrf model file")
    (version,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{str(path)!r} has model format version {version}; this levrf reads version "
                         f"{FORMAT_VERSION}")
    digest, payload = data[len(MAGIC) + 4 : _HEADER], data[_HEADER:]
    if hashlib.sha256(payload).digest() != digest:
        raise ModelFileError(f"{str(path)!r} is damaged or was altered: checksum mismatch")
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            with np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError("manifest format version does not match the header")
        return _decode_estimator(manifest["model"], arrays)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ModelFileError(f"{str(path)!r} could not be read as a levrf model: {exc}") from exc
