"""Hostile model files: bombs, forgeries with a recomputed checksum, keys, and racing or failing saves.

Forged files are rebuilt the way an attacker would: edit the manifest or an array member, zip
again and recompute the SHA-256 of the header. Without a key only the schema stands between
such a file and the user; with a key the HMAC refuses every edit.
"""

import hashlib
import io
import json
import os
import struct
import threading
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator

import levrf
from levrf import ModelFileError, load, save
from levrf.persistence import (
    FORMAT_VERSION,
    MAGIC,
    MAX_JSON_DEPTH,
    SCHEMA,
    Array,
    ClassSchema,
    Int,
    ListOf,
    Str,
)

#: MAGIC | version | auth byte | SHA-256 | tag (docs/security.md, persistence module docstring)
HEADER = len(MAGIC) + 4 + 1 + 32 + 32
GIB = 1 << 30


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def data():
    X, y = levrf.datasets.load("diabetes")
    return X[:120], y[:120]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    # no intercept, so that scaling the coefficients scales the predictions (the forgery tests)
    return levrf.RandomFeatureRidge(levrf.GaussianKernel(3.0), n_features=8, alpha=0.1, random_state=0,
                                    fit_intercept=False).fit(X, y)


@pytest.fixture()
def saved(tmp_path, fitted):
    return save(fitted, tmp_path / "m.levrf")


def read_parts(path):
    """(auth byte, tag, manifest, {member: bytes}) of a model file."""
    blob = path.read_bytes()
    auth, tag = blob[len(MAGIC) + 4], blob[HEADER - 32 : HEADER]
    with zipfile.ZipFile(io.BytesIO(blob[HEADER:])) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        members = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"}
    return auth, tag, manifest, members


def header(auth, payload, tag=bytes(32)):
    """A header whose checksum matches ``payload`` (anyone can compute it)."""
    return MAGIC + struct.pack("<IB", FORMAT_VERSION, auth) + hashlib.sha256(payload).digest() + tag + payload


def write_forged(path, manifest, members, *, auth=0, tag=bytes(32)):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, blob in members.items():
            archive.writestr(name, blob)
    path.write_bytes(header(auth, buffer.getvalue(), tag))


def learned(manifest, *path):
    """The learned-attribute dict of the estimator reached through ``path`` (e.g. "features_")."""
    node = manifest["model"]
    for name in path:
        node = node["learned"][name]["__estimator__"]
    return node["learned"]


def both_params(manifest, name, value):
    """Set a hyperparameter in the ridge and its feature map (an attacker keeps them consistent)."""
    manifest["model"]["params"][name] = value
    manifest["model"]["learned"]["features_"]["__estimator__"]["params"][name] = value


def set_kernel_spec(manifest, spec):
    both_params(manifest, "kernel", {"__kernel__": spec})
    learned(manifest, "features_")["kernel_"] = {"__kernel__": spec}


def raw_zip(entries):
    """A zip archive written byte by byte: (name, method, compressed bytes, crc32, declared size)."""
    out, central = bytearray(), bytearray()
    for name, method, blob, crc, size in entries:
        offset, raw_name = len(out), name.encode()
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(blob), size,
                           len(raw_name), 0) + raw_name + blob
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(blob), size,
                               len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name
    n = len(entries)
    return bytes(out + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), 0))


def deflate_repeated(byte: int, mib: int, prefix: bytes = b"") -> tuple[bytes, int]:
    """Raw deflate of ``prefix`` and ``mib`` MiB of one byte value, built in milliseconds, and its CRC-32.

    After a full flush the compressor starts afresh, so the deflate blocks of every further MiB
    are identical and can be repeated instead of compressed again.
    """
    chunk = bytes([byte]) * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return head + first + block * (mib - 1) + compressor.flush(), crc


def peak_bytes_of(call):
    """Run ``call`` (expected to raise ModelFileError); return the peak traced allocation."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as info:
            call()
        return tracemalloc.get_traced_memory()[1], info
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- decompression bombs


def test_bomb_helper_really_inflates():
    """The bombs below are genuine: their streams inflate to the advertised bytes and CRC."""
    blob, crc = deflate_repeated(ord(" "), 4, prefix=b"{}")
    out = zlib.decompress(blob, -15)
    assert out == b"{}" + b" " * (4 << 20) and zlib.crc32(out) == crc


def stored(name, blob):
    return (name, zipfile.ZIP_STORED, blob, zlib.crc32(blob), len(blob))


@pytest.mark.parametrize("target", ["array", "manifest"])
@pytest.mark.parametrize("declared", ["honest", "lying"])
def test_decompression_bomb_is_refused_while_streaming(tmp_path, saved, target, declared):
    """1.06 GiB inflated from a 1 MB file; "lying": the zip header understates the size."""
    _, _, manifest, members = read_parts(saved)
    mib = GIB // (1 << 20) + 64
    text = json.dumps(manifest).encode()
    if target == "manifest":  # the real manifest followed by a gigabyte of JSON whitespace
        bomb, crc = deflate_repeated(ord(" "), mib, prefix=text)
        size = len(text) + (mib << 20) if declared == "honest" else len(text) + 100
        entries = [("manifest.json", zipfile.ZIP_DEFLATED, bomb, crc, size)]
        entries += [stored(n, b) for n, b in members.items()]
    else:  # the coefficients' member inflates to a gigabyte of zeros
        coef = learned(manifest)["coef_"]["__tensor__"]
        bomb, crc = deflate_repeated(0, mib)
        size = (mib << 20) if declared == "honest" else len(members[coef])
        entries = [stored("manifest.json", text)]
        entries += [(n, zipfile.ZIP_DEFLATED, bomb, crc, size) if n == coef else stored(n, b)
                    for n, b in members.items()]
    path = tmp_path / "bomb.levrf"
    path.write_bytes(header(0, raw_zip(entries)))
    assert path.stat().st_size < 2 << 20  # a small file ...
    start = time.perf_counter()
    peak, _ = peak_bytes_of(lambda: load(path))
    assert peak < 64 << 20  # ... refused without inflating it (a naive reader needs > 1 GiB)
    assert time.perf_counter() - start < 10


def test_declared_huge_array_is_refused_before_allocation(tmp_path, saved):
    _, _, manifest, members = read_parts(saved)
    learned(manifest)["coef_"]["shape"] = [1 << 40, 1]
    write_forged(saved, manifest, members)
    peak, info = peak_bytes_of(lambda: load(saved))
    assert "MAX_ARRAY_ELEMENTS" in str(info.value) and peak < 16 << 20


def test_shapes_are_checked_before_any_array_is_read(tmp_path, saved, monkeypatch):
    """A consistent-looking but oversized array is refused from its declared shape alone."""
    _, _, manifest, members = read_parts(saved)
    weights = learned(manifest, "features_")["weights_"]
    weights["shape"] = [1 << 24, 10]  # 1.25 GiB of float64 declared; the model needs (8, 10)
    members[weights["__tensor__"]] = b""
    write_forged(saved, manifest, members)
    monkeypatch.setattr(levrf.persistence, "MAX_DECOMPRESSED_BYTES", 4 * GIB)
    monkeypatch.setattr(levrf.persistence, "MAX_ARRAY_ELEMENTS", 1 << 30)
    peak, info = peak_bytes_of(lambda: load(saved))
    assert peak < 16 << 20 and ("shape" in str(info.value) or "declares" in str(info.value))


def test_file_over_the_size_cap_is_refused_before_reading(saved):
    with saved.open("r+b") as handle:  # sparse: no disk space, but stat says 1 GiB + 1 byte
        handle.truncate(levrf.persistence.MAX_MODEL_BYTES + 1)
    peak, info = peak_bytes_of(lambda: load(saved))
    assert "MAX_MODEL_BYTES" in str(info.value) and peak < 1 << 20


def test_member_count_and_depth_caps(tmp_path, saved, monkeypatch):
    _, _, manifest, members = read_parts(saved)
    monkeypatch.setattr(levrf.persistence, "MAX_MEMBERS", len(members))  # one less than needed
    with pytest.raises(ModelFileError, match="MAX_MEMBERS"):
        load(saved)
    monkeypatch.undo()
    deep = 0
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    learned(manifest)["refine_residuals_"] = deep
    write_forged(saved, manifest, members)
    with pytest.raises(ModelFileError, match="MAX_JSON_DEPTH"):
        load(saved)
    very_deep = "[" * 100_000 + "]" * 100_000  # the json module itself would hit RecursionError
    text = json.dumps(manifest).replace(json.dumps(deep), very_deep)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", text)
        for name, blob in members.items():
            archive.writestr(name, blob)
    saved.write_bytes(header(0, buffer.getvalue()))
    with pytest.raises(ModelFileError, match="MAX_JSON_DEPTH"):
        load(saved)


def test_other_compression_methods_are_refused(tmp_path, saved):
    _, _, manifest, members = read_parts(saved)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:  # bzip2 inflates zeros 10^6-fold
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, blob in members.items():
            archive.writestr(name, blob)
    saved.write_bytes(header(0, buffer.getvalue()))
    with pytest.raises(ModelFileError, match="compression"):
        load(saved)


# ---------------------------------------------------------------- forged files (checksum recomputed)


def _scale_coef(manifest, members):
    name = learned(manifest)["coef_"]["__tensor__"]
    members[name] = (np.frombuffer(members[name], "<f8") * 1000).tobytes()


def _set(path, value):
    def edit(manifest, members):
        target = manifest["model"]
        *parents, last = path
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


def _device_cuda(manifest, members):
    both_params(manifest, "device", "cuda")
    set_kernel_spec(manifest, "gaussian:bandwidth=3.0,device=cuda")


def _n_features(manifest, members):
    both_params(manifest, "n_features", 9)


def _coef_dtype(manifest, members):
    learned(manifest)["coef_"]["dtype"] = "<i8"


def _coef_shape(manifest, members):
    coef = learned(manifest)["coef_"]
    coef["shape"] = [15, 1]
    members[coef["__tensor__"]] = members[coef["__tensor__"]][:-8]


def _weights_3d(manifest, members):
    learned(manifest, "features_")["weights_"]["shape"] = [8, 10, 1]


def _coef_nan(manifest, members):
    name = learned(manifest)["coef_"]["__tensor__"]
    values = np.frombuffer(members[name], "<f8").copy()
    values[3] = np.nan
    members[name] = values.tobytes()


def _object_dtype(manifest, members):
    learned(manifest)["coef_"]["dtype"] = "|O"


def _extra_member(manifest, members):
    members["arrays/99.bin"] = b"\x00" * 8


def _reuse_member(manifest, members):
    learned(manifest, "features_")["importance_"] = dict(learned(manifest, "features_")["weights_"])


def _unknown_class(manifest, members):
    manifest["model"]["learned"]["features_"]["__estimator__"]["class"] = "subprocess.Popen"


def _extra_param(manifest, members):
    manifest["model"]["params"]["__class__"] = "x"


def _two_targets(manifest, members):
    coef = learned(manifest)["coef_"]
    coef["shape"] = [16, 2]
    members[coef["__tensor__"]] *= 2


FORGERIES = [
    ("alpha=-1", _set(("params", "alpha"), -1.0), "alpha"),
    ("alpha=NaN", _set(("params", "alpha"), float("nan")), "alpha"),
    ("n_features changed", _n_features, "shape"),
    ("n_output_features_", _set(("learned", "features_", "__estimator__", "learned", "n_output_features_"), 17),
     "n_output_features_|shape"),
    ("bandwidth=-1", lambda m, a: set_kernel_spec(m, "gaussian:bandwidth=-1.0"), "bandwidth"),
    ("bandwidth=NaN", lambda m, a: set_kernel_spec(m, "gaussian:bandwidth=nan"), "bandwidth"),
    ("bandwidth of kernel_ only", lambda m, a: learned(m, "features_").update(kernel_={"__kernel__": "gaussian:bandwidth=2.0"}),
     "kernel_"),
    ("learned predict", _set(("learned", "predict"), {"__dict__": {}}), "predict"),
    ("learned __dict__", _set(("learned", "__dict__"), {"__dict__": {"alpha": 5}}), "__dict__"),
    ("learned fit", _set(("learned", "fit"), 1), "fit"),
    ("unknown attribute", _set(("learned", "backdoor_"), 1), "backdoor_"),
    ("coef_ int64", _coef_dtype, "dtype"),
    ("coef_ object dtype", _object_dtype, "dtype"),
    ("coef_ shorter", _coef_shape, "shape"),
    ("coef_ two columns, single target", _two_targets, "_single_target|intercept_"),
    ("weights_ 3-D", _weights_3d, "dimensions|bytes"),
    ("coef_ NaN", _coef_nan, "NaN"),
    ("coef_ a dict", _set(("learned", "coef_"), {"__dict__": {}}), "tensor data"),
    ("features_ a list", _set(("learned", "features_"), [1, 2]), "estimator"),
    ("features_ missing", lambda m, a: m["model"]["learned"].pop("features_"), "features_"),
    ("jitter_ a string", _set(("learned", "jitter_"), "x"), "jitter_"),
    ("jitter_ negative", _set(("learned", "jitter_"), -1.0), "jitter_"),
    ("sampling unknown", lambda m, a: both_params(m, "sampling", "evil"), "sampling"),
    ("kernel spec garbage", lambda m, a: set_kernel_spec(m, "gaussian:bandwidth=1,foo=2"), "kernel"),
    ("kernel of an unknown family", lambda m, a: set_kernel_spec(m, "os.system"), "kernel"),
    ("unknown class", _unknown_class, "subprocess.Popen"),
    ("extra hyperparameter", _extra_param, "params"),
    ("extra member", _extra_member, "members"),
    ("member used twice", _reuse_member, "reuses|twice"),
    ("manifest version", lambda m, a: m.update(format_version=1), "version"),
    ("manifest a list", lambda m, a: m.update(model=[]), "estimator"),
]


@pytest.mark.parametrize("edit,match", [(e, m) for _, e, m in FORGERIES], ids=[n for n, _, _ in FORGERIES])
def test_forged_file_is_refused_by_the_schema(saved, edit, match):
    _, _, manifest, members = read_parts(saved)
    edit(manifest, members)
    write_forged(saved, manifest, members)
    with pytest.raises(ModelFileError, match=match):
        load(saved)


def test_device_unavailable_on_this_machine_is_refused(saved):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: a 'cuda' model file is legitimate")
    _, _, manifest, members = read_parts(saved)
    _device_cuda(manifest, members)
    write_forged(saved, manifest, members)
    with pytest.raises(ModelFileError, match="cuda"):
        load(saved)


def test_changed_coefficients_are_caught_only_by_the_key(tmp_path, data, fitted):
    """Values that keep every shape and range are indistinguishable from a real fit without a key."""
    X, _ = data
    plain = save(fitted, tmp_path / "plain.levrf")
    _, _, manifest, members = read_parts(plain)
    _scale_coef(manifest, members)
    write_forged(plain, manifest, members)
    np.testing.assert_allclose(load(plain).predict(X), 1000 * fitted.predict(X), rtol=1e-12)

    keyed = save(fitted, tmp_path / "keyed.levrf", key=b"k" * 32)
    auth, tag, manifest, members = read_parts(keyed)
    _scale_coef(manifest, members)
    write_forged(keyed, manifest, members, auth=auth, tag=tag)  # old tag, new checksum
    with pytest.raises(ModelFileError, match="authentication failed"):
        load(keyed, key=b"k" * 32)


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("key", [b"\x00secret\xff" * 4, "clé secrète"])
def test_key_round_trip(tmp_path, data, fitted, key):
    X, _ = data
    path = save(fitted, tmp_path / "k.levrf", key=key)
    other = key.encode("utf-8") if isinstance(key, str) else key
    for given in (key, other):
        np.testing.assert_array_equal(load(path, key=given).predict(X), fitted.predict(X))


def test_every_key_mismatch_is_refused(tmp_path, fitted):
    keyed = save(fitted, tmp_path / "keyed.levrf", key="right")
    plain = save(fitted, tmp_path / "plain.levrf")
    with pytest.raises(ModelFileError, match="saved with a key"):
        load(keyed)
    with pytest.raises(ModelFileError, match="authentication failed"):
        load(keyed, key="wrong")
    with pytest.raises(ModelFileError, match="authentication failed"):
        load(keyed, key="right ")
    with pytest.raises(ModelFileError, match="no authentication tag"):
        load(plain, key="right")


def test_stripping_the_tag_does_not_help_a_forger(tmp_path, fitted):
    keyed = save(fitted, tmp_path / "keyed.levrf", key="right")
    _, _, manifest, members = read_parts(keyed)
    _scale_coef(manifest, members)
    write_forged(keyed, manifest, members, auth=0)  # claims to be unkeyed, checksum recomputed
    with pytest.raises(ModelFileError, match="no authentication tag"):
        load(keyed, key="right")
    blob = bytearray(save(fitted, tmp_path / "other.levrf", key="right").read_bytes())
    blob[len(MAGIC) + 4] = 7  # an unknown scheme
    (tmp_path / "other.levrf").write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="authentication scheme"):
        load(tmp_path / "other.levrf", key="right")


@pytest.mark.parametrize("key,error", [("", ValueError), (b"", ValueError), (123, TypeError), (["k"], TypeError)])
def test_bad_keys_are_usage_errors(tmp_path, fitted, saved, key, error):
    with pytest.raises(error, match="key"):
        save(fitted, tmp_path / "x.levrf", key=key)
    assert not (tmp_path / "x.levrf").exists()
    with pytest.raises(error, match="key"):
        load(saved, key=key)


def test_old_format_version_is_refused_clearly(saved):
    blob = bytearray(saved.read_bytes())
    blob[len(MAGIC) : len(MAGIC) + 4] = struct.pack("<I", 1)
    saved.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="version 1 was written by an older levrf"):
        load(saved)


def test_non_regular_files_are_refused(tmp_path):
    fifo = tmp_path / "pipe.levrf"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="regular file"):
        load(fifo)  # must not block waiting for a writer
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


# ---------------------------------------------------------------- saving: temp files, races, failures


def test_planted_symlinks_at_temp_names_are_not_followed(tmp_path, fitted, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "m.levrf"
    for name in ("m.levrf.tmp", ".m.levrf.tmp", "m.levrf.tmp.0", ".m.levrf.aaaaaaaaaaaaaaaa.tmp"):
        (tmp_path / name).symlink_to(victim)
    # the first random name is forced onto the planted symlink: creating it must fail, not follow it
    names = iter(["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"])
    monkeypatch.setattr(levrf.persistence.secrets, "token_hex", lambda n: next(names))
    save(fitted, target)
    assert victim.read_text() == "precious"
    assert target.is_file() and not target.is_symlink()
    assert isinstance(load(target), levrf.RandomFeatureRidge)
    leftovers = {p.name for p in tmp_path.iterdir()} - {"victim.txt", "m.levrf"}
    assert all((tmp_path / n).is_symlink() for n in leftovers)  # only the planted links remain


def test_concurrent_saves_to_one_path_all_succeed(tmp_path, data, fitted):
    X, y = data
    other = levrf.RandomFeatureRidge(levrf.GaussianKernel(3.0), n_features=8, alpha=0.1, random_state=5).fit(X, y)
    candidates = [fitted.predict(X), other.predict(X)]
    path = tmp_path / "shared.levrf"

    def write(model, barrier, errors):
        barrier.wait()
        try:
            save(model, path)
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            errors.append(exc)

    for _ in range(20):
        barrier, errors = threading.Barrier(2), []
        threads = [threading.Thread(target=write, args=(m, barrier, errors)) for m in (fitted, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        got = load(path).predict(X)
        assert any(np.array_equal(got, c) for c in candidates)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.levrf"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_save_leaves_no_temp_file_and_keeps_the_target(tmp_path, data, fitted, monkeypatch, failing):
    path = save(fitted, tmp_path / "m.levrf")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, broken)
    with pytest.raises(OSError, match="No space"):
        save(fitted.set_params(alpha=0.5).fit(*data), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.levrf"]


def test_directory_path_is_refused(tmp_path, fitted):
    with pytest.raises(IsADirectoryError, match="directory"):
        save(fitted, tmp_path)


# ---------------------------------------------------------------- the schema table


def test_no_learned_attribute_shadows_a_class_attribute():
    for name, entry in SCHEMA.items():
        cls = entry.load_class()
        assert cls.__name__ == name
        assert [k for k in entry.learned if hasattr(cls, k)] == []


class ToyEncoder(BaseEstimator):
    """Learned state of the lead's coming ``TableEncoder``: adding it is one SCHEMA entry."""

    def __init__(self, fill: str = "median") -> None:
        self.fill = fill

    def _check_params(self) -> None:
        if self.fill not in ("median", "zero"):
            raise ValueError(f"fill must be 'median' or 'zero', got {self.fill!r}")

    def fit(self, columns: dict):
        self._check_params()
        self.feature_names_in_ = np.asarray(list(columns), dtype=object)
        self.n_features_in_ = len(columns)
        self.numeric_columns_ = [c for c, v in columns.items() if isinstance(v[0], float)]
        self.categorical_columns_ = [c for c in columns if c not in self.numeric_columns_]
        self.medians_ = np.array([np.median(columns[c]) for c in self.numeric_columns_])
        self.categories_ = [sorted(set(columns[c])) for c in self.categorical_columns_]
        self.modes_ = [max(set(columns[c]), key=columns[c].count) for c in self.categorical_columns_]
        return self


TOY_ENTRY = ClassSchema(ToyEncoder, {
    "feature_names_in_": Array(("<U",), shape=("n_features_in_",), objects=True),
    "n_features_in_": Int(min=1),
    "numeric_columns_": ListOf(item=Str()),
    "categorical_columns_": ListOf(item=Str()),
    "medians_": Array(("<f8",), shape=("numeric_columns_",)),
    "categories_": ListOf(item=ListOf(item=Str()), length="categorical_columns_"),
    "modes_": ListOf(item=Str(), length="categorical_columns_"),
}, ("_check_params",))


def test_a_new_class_is_one_schema_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(SCHEMA, "ToyEncoder", TOY_ENTRY)
    toy = ToyEncoder().fit({"x": [1.0, 3.0, 2.0], "colour": ["red", "blue", "red"], "size": ["s", "m", "m"]})
    loaded = load(save(toy, tmp_path / "toy.levrf"))
    assert loaded.get_params() == toy.get_params()
    for name in TOY_ENTRY.learned:
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name), dtype=object),
                                      np.asarray(getattr(toy, name), dtype=object))
    assert loaded.feature_names_in_.dtype == object
    _, _, manifest, members = read_parts(tmp_path / "toy.levrf")
    manifest["model"]["learned"]["modes_"] = ["red"]  # one mode for two categorical columns
    write_forged(tmp_path / "toy.levrf", manifest, members)
    with pytest.raises(ModelFileError, match="modes_"):
        load(tmp_path / "toy.levrf")



def test_file_written_before_the_solver_parameters_loads_with_their_defaults(tmp_path, data, fitted, saved):
    # a model file of the release before solver/tol/max_iter/warm_start existed: its estimator
    # takes their defaults and predicts what it predicted; any other missing parameter is refused
    X, _ = data
    _, _, manifest, members = read_parts(saved)
    old = manifest["model"]
    for name in ("solver", "tol", "max_iter", "warm_start"):
        del old["params"][name]
    for name in ("solver_", "n_iter_", "cg_residuals_"):
        old["learned"].pop(name, None)
    write_forged(tmp_path / "old.levrf", manifest, members)
    model = load(tmp_path / "old.levrf")
    assert model.get_params()["solver"] == "auto" and model.get_params()["max_iter"] is None
    np.testing.assert_array_equal(model.predict(X), fitted.predict(X))
    del old["params"]["alpha"]
    write_forged(tmp_path / "older.levrf", manifest, members)
    with pytest.raises(ModelFileError, match="exactly the keys"):
        load(tmp_path / "older.levrf")
