"""Model files of the Nyström classes: round trips, and forged files refused (issue 18)."""

import hashlib
import io
import json
import struct
import zipfile

import numpy as np
import pytest

import levrf
from levrf import ModelFileError, load, save
from levrf.persistence import FORMAT_VERSION, MAGIC

HEADER = len(MAGIC) + 4 + 1 + 32 + 32


@pytest.fixture(scope="module")
def data():
    X, y = levrf.datasets.load("diabetes")
    return X[:150], y[:150], X[150:200]


def _models():
    kernel = levrf.GaussianKernel(3.0)
    yield "nystroem", levrf.Nystroem(kernel, n_components=20, random_state=1)
    yield "nystroem-leverage", levrf.Nystroem(kernel, n_components=20, centers="leverage", alpha=0.1,
                                              random_state=2)
    yield "nystrom-ridge", levrf.NystromRidge(kernel, n_components=20, alpha=0.1, random_state=3)
    yield "nystrom-ridge-leverage", levrf.NystromRidge(kernel, n_components=16, centers="leverage", alpha=0.1)
    yield "nystrom-ridge-cv", levrf.NystromRidgeCV(alphas=(0.01, 0.1, 1.0), kernel=kernel, n_components=16,
                                                   store_cv_results=True)
    yield "nystrom-ridge-classifier", levrf.NystromRidgeClassifier(kernel, n_components=16, alpha=0.1)
    yield "nystrom-ridge-deep-ntk", levrf.NystromRidge(levrf.DeepReLUNTK(depth=3), n_components=12)


def _outputs(model, X):
    return model.transform(X) if isinstance(model, levrf.Nystroem) else model.predict(X)


@pytest.mark.parametrize("name,model", list(_models()), ids=[n for n, _ in _models()])
def test_round_trip_predicts_identically(tmp_path, data, name, model):
    X, y, Xt = data
    target = (y > np.median(y)).astype(int) if "classifier" in name else y
    model.fit(X, target)
    loaded = load(save(model, tmp_path / "m.levrf"))
    assert type(loaded) is type(model) and loaded.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    ref = _outputs(model, Xt)
    tol = 64 * np.finfo(np.float64).eps * max(float(np.abs(ref).max()), 1.0)
    np.testing.assert_allclose(_outputs(loaded, Xt), ref, rtol=0, atol=tol)


def _parts(path):
    blob = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(blob[HEADER:])) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        members = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"}
    return manifest, members


def _write(path, manifest, members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, blob in members.items():
            archive.writestr(name, blob)
    payload = buffer.getvalue()
    path.write_bytes(MAGIC + struct.pack("<IB", FORMAT_VERSION, 0) + hashlib.sha256(payload).digest()
                     + bytes(32) + payload)


def _features(manifest):
    return manifest["model"]["learned"]["features_"]["__estimator__"]


def _fewer_components(manifest, members):  # 20 centers, but n_components says 10 (kept consistent)
    manifest["model"]["params"]["n_components"] = 10
    _features(manifest)["params"]["n_components"] = 10


def _float_indices(manifest, members):
    _features(manifest)["learned"]["center_indices_"]["dtype"] = "<f8"


def _reversed_indices(manifest, members):
    name = _features(manifest)["learned"]["center_indices_"]["__tensor__"]
    members[name] = np.frombuffer(members[name], "<i8")[::-1].copy().tobytes()


def _more_outputs_than_centers(manifest, members):
    learned = _features(manifest)["learned"]
    learned["n_output_features_"] = 21
    for name in ("normalization_",):
        node = learned[name]
        node["shape"] = [20, 21]
        members[node["__tensor__"]] = np.zeros((20, 21)).tobytes()
    coef = manifest["model"]["learned"]["coef_"]
    coef["shape"] = [21, 1]
    members[coef["__tensor__"]] = np.zeros(21).tobytes()


def _leverage_on_uniform_centers(manifest, members):
    learned = _features(manifest)["learned"]
    for i, name in enumerate(("leverage_", "inclusion_probabilities_")):
        member = f"arrays/{90 + i}.bin"
        learned[name] = {**learned["normalization_"], "shape": [20], "__tensor__": member}
        members[member] = np.full(20, 0.5).tobytes()


def _wrong_features_class(manifest, members):
    _features(manifest)["class"] = "RandomFeatures"


FORGERIES = [
    ("more centers than n_components", _fewer_components, "centers but n_components"),
    ("float center indices", _float_indices, "center_indices_"),
    ("unsorted center indices", _reversed_indices, "center_indices_"),
    ("more outputs than centers", _more_outputs_than_centers, "exceeds the 20 centers"),
    ("leverage on uniform centers", _leverage_on_uniform_centers, "leverage_"),
    ("random features in a Nystrom ridge", _wrong_features_class, "features_"),
]


@pytest.mark.parametrize("edit,match", [f[1:] for f in FORGERIES], ids=[f[0] for f in FORGERIES])
def test_forged_nystrom_files_are_refused(tmp_path, data, edit, match):
    X, y, _ = data
    model = levrf.NystromRidge(levrf.GaussianKernel(3.0), n_components=20, alpha=0.1, random_state=0).fit(X, y)
    path = save(model, tmp_path / "m.levrf")
    load(path)  # the untouched file loads
    manifest, members = _parts(path)
    edit(manifest, members)
    forged = tmp_path / "forged.levrf"
    _write(forged, manifest, members)
    with pytest.raises(ModelFileError, match=match):
        load(forged)
