"""levrf.tabular in-process: TableEncoder against scikit-learn, safe outputs, fit_table's refusals."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import levrf
from levrf import tabular
from levrf.kernels import kernel_from_spec
from levrf.tabular import TableEncoder, TableNote, check_output_path, fit_table, write_csv_atomic


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    n = 40
    data = pd.DataFrame({
        "a": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], size=n),
        "b": rng.integers(0, 5, size=n).astype(float),
        "size": rng.choice(["S", "M", "L", "XL"], size=n),
    })
    data.loc[[1, 7, 8], "a"] = np.nan
    data.loc[[2, 30], "b"] = np.nan
    data.loc[[0, 5, 9, 11], "colour"] = None
    return data


def sklearn_matrix(train: pd.DataFrame, test: pd.DataFrame, numeric, categorical) -> np.ndarray:
    reference = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categorical),
    ])
    def objects(frame):  # missing values as NaN, which SimpleImputer treats as missing in every version
        out = frame.astype({c: object for c in categorical})
        for c in categorical:
            out[c] = out[c].where(out[c].notna(), np.nan)
        return out

    return reference.fit(objects(train)).transform(objects(test))


def test_encoder_equals_simple_imputer_and_one_hot_encoder(frame):
    with pytest.warns(TableNote, match=r"imputed missing values: 3 in 'a' .*, 2 in 'b' .*, 4 in 'colour'"):
        got = TableEncoder().fit_transform(frame)
    expected = sklearn_matrix(frame, frame, ["a", "b"], ["colour", "size"])
    assert got.shape == expected.shape == (40, 2 + 3 + 4)
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)  # copies and medians: no rounding involved
    encoder = TableEncoder().fit(frame)
    assert encoder.numeric_columns_ == ["a", "b"] and encoder.categorical_columns_ == ["colour", "size"]
    assert list(encoder.get_feature_names_out()[:3]) == ["a", "b", "colour=blue"]
    assert encoder.medians_.dtype == np.float64
    assert encoder.modes_[0] == frame["colour"].mode().sort_values().iloc[0]


def test_encoder_selects_by_name_and_zeros_unseen_categories(frame):
    encoder = TableEncoder().fit(frame)
    new = frame.iloc[[3, 4, 6, 10, 12, 13]][["size", "b", "colour", "a"]].copy()  # rows without NaN
    new["extra"] = 1.0
    new.loc[new.index[3], "colour"] = "purple"
    with pytest.warns(TableNote, match=r"1 row\(s\) of 'colour' hold categories not seen in training \('purple'\)"):
        got = encoder.transform(new)
    expected = sklearn_matrix(frame, new[frame.columns], ["a", "b"], ["colour", "size"])
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)
    assert np.all(got[3, 2:5] == 0)
    with pytest.raises(ValueError, match=r"X lacks column\(s\) 'size'"):
        encoder.transform(new.drop(columns="size"))


def test_encoder_modes_and_validation(frame):
    with pytest.raises(ValueError, match="'colour' is not numeric"):
        TableEncoder(categorical="error").fit(frame)
    dropped = TableEncoder(categorical="drop").fit(frame)
    assert dropped.categorical_columns_ == [] and dropped.required_columns() == ["a", "b"]
    with pytest.raises(ValueError, match=r"9 row\(s\) have a missing value .*missing='error'"):
        TableEncoder(missing="error").fit(frame[["a", "b"]].assign(c=frame["colour"]))
    with pytest.raises(ValueError, match="categorical must be one of onehot, drop, error"):
        TableEncoder(categorical="ordinal").fit(frame)
    with pytest.raises(TypeError, match="X must be a pandas DataFrame"):
        TableEncoder().fit(frame.to_numpy())
    with pytest.raises(ValueError, match="column 'a' has no values"):
        TableEncoder().fit(frame.assign(a=np.nan))
    with pytest.raises(ValueError, match=r"column 'b' .*beyond"):
        TableEncoder().fit(frame.assign(b=1e300))


def test_encoder_survives_a_model_file(tmp_path, frame):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.random.default_rng(0).normal(size=len(frame))
    model = TransformedTargetRegressor(regressor=Pipeline([
        ("encode", TableEncoder()), ("scale", StandardScaler()),
        ("ridge", levrf.RandomFeatureRidge(levrf.GaussianKernel(3.0), n_features=8, alpha=0.1, random_state=0)),
    ]), transformer=StandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TableNote)
        model.fit(frame, y)
        levrf.save(model, tmp_path / "m.levrf")
        loaded = levrf.load(tmp_path / "m.levrf")
        encoder, original = loaded.regressor_.steps[0][1], model.regressor_.steps[0][1]
        assert isinstance(encoder, TableEncoder) and encoder.categories_ == original.categories_
        assert encoder.feature_names_in_.dtype == object and encoder.modes_ == original.modes_
        np.testing.assert_allclose(encoder.transform(frame), original.transform(frame), rtol=0, atol=0)
        expected = model.predict(frame)
        np.testing.assert_allclose(loaded.predict(frame), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_check_output_path(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    for same in (data, hard, link, tmp_path / "sub" / ".." / "data.csv"):
        with pytest.raises(FileExistsError, match="is the input file"):
            check_output_path(same, [data], force=True)
    with pytest.raises(FileExistsError, match="already exists"):
        check_output_path(tmp_path / "hard.csv", [], force=False)
    assert check_output_path(tmp_path / "hard.csv", [], force=True) == tmp_path / "hard.csv"
    with pytest.raises(IsADirectoryError):
        check_output_path(tmp_path, [], force=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "p.csv", [])
    with pytest.raises(TypeError, match="out must be"):
        check_output_path(3, [])


def test_write_csv_atomic_leaves_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    write_csv_atomic(pd.DataFrame({"prediction": [1.5, 2.5]}), out)
    assert out.read_text() == "prediction\n1.5\n2.5\n"

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(OSError, match="disk full"):
        write_csv_atomic(pd.DataFrame({"prediction": [0.0]}), out)
    assert out.read_text() == "prediction\n1.5\n2.5\n" and sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_fit_table_refusals(tmp_path, frame, monkeypatch):
    data = tmp_path / "t.csv"
    frame.assign(y=np.arange(len(frame), dtype=float)).to_csv(data, index=False)
    with pytest.raises(ValueError, match="columns include the target column 'y'"):
        fit_table(data, "y", columns="a,y")
    with pytest.raises(ValueError, match=r"predictor column\(s\) 'zz' are not in the table"):
        fit_table(data, "y", columns=["a", "zz"])
    with pytest.raises(ValueError, match="has no random features"):
        fit_table(data, "y", kernel="deep-relu-ntk", method="random-features")
    monkeypatch.setattr(tabular, "EXACT_MAX_ROWS", 30)
    with pytest.raises(ValueError, match="40 rows exceed its limit of 30 rows"):
        fit_table(data, "y", kernel="deep-relu-ntk")
    with pytest.raises(FileExistsError, match="is the input file"):
        fit_table(data, "y", out=data, force=True)


def test_kernel_spec_messages():
    with pytest.raises(ValueError, match="kernel 'gaussian' has no parameter 'bandwith'; its parameters are "
                                         "bandwidth, dtype, device"):
        kernel_from_spec("gaussian:bandwith=2")
    with pytest.raises(ValueError, match="must be an integer, got '1.5'"):
        kernel_from_spec("arccos:order=1.5")
    with pytest.raises(ValueError, match="bad parameters for kernel 'gaussian'.*bandwidth must be a finite number in"):
        kernel_from_spec("gaussian:bandwidth=-1")
    assert kernel_from_spec("laplacian", default_bandwidth=2.5).bandwidth == 2.5
    assert kernel_from_spec("deep-relu-ntk:depth=3", default_bandwidth=2.5).depth == 3
