"""Safe model files: round trips predict identically; damaged or foreign files raise ModelFileError.

Hostile files (bombs, forgeries, key mismatches, racing saves) are in test_persistence_attacks.py.
"""

import pickle
import struct

import numpy as np
import pytest
import torch

import levrf
from levrf import ModelFileError
from levrf.persistence import FORMAT_VERSION, MAGIC, load, save


@pytest.fixture(scope="module")
def data():
    X, y = levrf.datasets.load("diabetes")
    return X[:200], y[:200], X[200:260]


def _models():
    kernel = levrf.GaussianKernel(3.0)
    yield "features", levrf.RandomFeatures(kernel, n_features=16, random_state=1)
    yield "rf-ridge", levrf.RandomFeatureRidge(kernel, n_features=16, alpha=0.1, random_state=2)
    yield "rf-ridge-leverage", levrf.RandomFeatureRidge(kernel, n_features=16, sampling="leverage",
                                                        alpha=0.1, random_state=3)
    yield "krr", levrf.KernelRidge(levrf.LaplacianKernel(4.0), alpha=0.5)
    yield "rf-ridge-cv", levrf.RandomFeatureRidgeCV(alphas=(0.01, 0.1, 1.0), kernel=kernel, n_features=16)
    yield "rf-ridge-cv-stored", levrf.RandomFeatureRidgeCV(alphas=np.array([0.1, 1.0]), kernel=kernel, n_features=8,
                                                           store_cv_results=True)
    yield "rf-ridge-float32", levrf.RandomFeatureRidge(levrf.MaternKernel(2.5, 3.0), n_features=8, dtype="float32")
    yield "rf-ridge-gram32", levrf.RandomFeatureRidge(kernel, n_features=16, gram_dtype="float32", alpha=0.1)
    yield "rf-relu-ntk-rejection", levrf.RandomFeatureRidge(levrf.ReLUNTK(), n_features=8, sampling="rejection")
    yield "features-qmc", levrf.RandomFeatures(levrf.ArcCosineKernel(0), n_features=8, sampling="qmc")
    yield "krr-deep-ntk", levrf.KernelRidge(levrf.DeepReLUNTK(depth=3), alpha=1.0)


def _outputs(model, X):
    return model.transform(X) if isinstance(model, levrf.RandomFeatures) else model.predict(X)


@pytest.mark.parametrize("name,model", list(_models()), ids=[n for n, _ in _models()])
def test_round_trip_predicts_identically(tmp_path, data, name, model):
    X, y, Xt = data
    model.fit(X, y)
    path = save(model, tmp_path / "m.levrf")
    loaded = load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params()["alpha" if "alpha" in loaded.get_params() else "kernel"] is not None
    # equal arrays, but a loaded array may sit at another memory alignment, and BLAS rounds the
    # same product differently there: equal to the rounding of the outputs, not bit for bit
    ref = _outputs(model, Xt)
    tol = 64 * np.finfo(ref.dtype).eps * float(np.abs(ref).max())
    np.testing.assert_allclose(_outputs(loaded, Xt), ref, rtol=0, atol=tol)
    # pickling keeps working as scikit-learn users expect
    np.testing.assert_allclose(_outputs(pickle.loads(pickle.dumps(model)), Xt), ref, rtol=0, atol=tol)


@pytest.mark.parametrize("labels", ["binary", "three-strings"])
@pytest.mark.parametrize("cls", [levrf.RandomFeatureRidgeClassifier, levrf.KernelRidgeClassifier])
def test_classifier_round_trip(tmp_path, cls, labels):
    X, y = levrf.datasets.load("breast_cancer")
    X, y = X[:200], y[:200]
    if labels == "three-strings":
        y = np.array(["low", "mid", "high"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    model = cls(levrf.GaussianKernel(5.0), alpha=0.1).fit(X, y)
    loaded = load(save(model, tmp_path / "c.levrf"), expected=cls)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)


def test_multi_target_and_column_names_round_trip(tmp_path, data):
    pd = pytest.importorskip("pandas")
    X, y, Xt = data
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    Y = np.c_[y, -2 * y]
    for model in (levrf.KernelRidge(levrf.GaussianKernel(3.0), alpha=0.5),
                  levrf.RandomFeatureRidge(levrf.GaussianKernel(3.0), n_features=16)):
        model.fit(frame, Y)
        loaded = load(save(model, tmp_path / "t.levrf"))
        test = pd.DataFrame(Xt, columns=frame.columns)
        np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
        assert list(loaded.feature_names_in_) == list(frame.columns) and loaded.feature_names_in_.dtype == object


def test_scikit_learn_wrappers_round_trip(tmp_path, data):
    """The model of ``levrf fit``: scaled target around a pipeline of a scaler and the ridge."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, Xt = data
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("ridge", levrf.RandomFeatureRidge(levrf.LaplacianKernel(3.0), n_features=16))])
    model = TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler()).fit(X, 3 * y + 100)
    loaded = load(save(model, tmp_path / "w.levrf"), expected=TransformedTargetRegressor)
    np.testing.assert_array_equal(loaded.predict(Xt), model.predict(Xt))
    scaler = StandardScaler(with_mean=False).set_output(transform="default")
    chain = Pipeline([("scale", scaler), ("features", levrf.RandomFeatures(levrf.GaussianKernel(2.0), n_features=8))])
    chain.fit(X)
    np.testing.assert_array_equal(load(save(chain, tmp_path / "p.levrf")).transform(Xt), chain.transform(Xt))


@pytest.fixture()
def saved_file(tmp_path, data):
    X, y, _ = data
    return save(levrf.RandomFeatureRidge(levrf.GaussianKernel(3.0), n_features=8).fit(X, y), tmp_path / "m.levrf")


@pytest.mark.parametrize("where", [0, 5, len(MAGIC) + 1, len(MAGIC) + 10, 100, -200, -1])
def test_one_changed_byte_is_refused(saved_file, where):
    blob = bytearray(saved_file.read_bytes())
    blob[where] ^= 0x01
    saved_file.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError):
        load(saved_file)


def test_truncated_file_is_refused(saved_file):
    blob = saved_file.read_bytes()
    for length in (0, 10, len(blob) // 2, len(blob) - 1):
        saved_file.write_bytes(blob[:length])
        with pytest.raises(ModelFileError):
            load(saved_file)


def test_wrong_version_is_refused(saved_file):
    blob = bytearray(saved_file.read_bytes())
    blob[len(MAGIC) : len(MAGIC) + 4] = struct.pack("<I", FORMAT_VERSION + 1)
    saved_file.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="version"):
        load(saved_file)


def test_foreign_and_missing_files(tmp_path):
    other = tmp_path / "data.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ModelFileError, match="not a levrf model"):
        load(other)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.levrf")


def test_unfitted_and_user_kernels_are_refused(tmp_path, data):
    X, y, _ = data
    with pytest.raises(ValueError):
        save(levrf.RandomFeatureRidge(), tmp_path / "u.levrf")
    user = levrf.FunctionKernel(
        sample=lambda m, d, g: torch.randn(m, d, generator=g, dtype=torch.float64),
        features=lambda X, W: torch.cos(X @ W.T).unsqueeze(-1),
    )
    model = levrf.RandomFeatureRidge(user, n_features=4).fit(X, y)
    with pytest.raises(ValueError, match="user kernels"):
        save(model, tmp_path / "f.levrf")
    assert not (tmp_path / "f.levrf").exists()


def test_expected_class_is_checked(tmp_path, saved_file):
    assert isinstance(load(saved_file, expected=(levrf.KernelRidge, levrf.RandomFeatureRidge)),
                      levrf.RandomFeatureRidge)
    with pytest.raises(ModelFileError, match="expected KernelRidge"):
        load(saved_file, expected=levrf.KernelRidge)
    with pytest.raises(TypeError, match="expected"):
        load(saved_file, expected="KernelRidge")


def test_attributes_outside_the_schema_are_not_saved(tmp_path, data):
    X, y, _ = data
    model = levrf.RandomFeatureRidge(n_features=4).fit(X, y)
    model.extra_ = np.zeros(3)
    with pytest.raises(TypeError, match="extra_"):
        save(model, tmp_path / "x.levrf")
    assert list(tmp_path.iterdir()) == []
