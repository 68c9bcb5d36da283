"""The ``levrf`` command, run as a user would: through a subprocess."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import levrf
from levrf.persistence import save

SUBCOMMANDS = ["demo", "experiment", "fit", "predict"]
EPS = torch.finfo(torch.float64).eps


def run(*args, cwd=None, env=None):
    environment = None if env is None else {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "levrf", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=environment)


def refused(proc, code: int, *fragments: str) -> None:
    """Exit ``code``, a one-line message holding every fragment, and no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], proc.stderr


@pytest.mark.parametrize("sub", [None, *SUBCOMMANDS])
def test_help(sub):
    proc = run(*([sub] if sub else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: levrf" in proc.stdout
    assert "exit codes:" in proc.stdout and "5  I/O error" in proc.stdout
    if sub in ("fit", "demo", "experiment"):
        assert "(default: " in proc.stdout
    if sub == "fit":
        for shown in ("(default: 256)", "(default: gaussian)", "(default: 0.01)", "(default: onehot)",
                      "(default: impute)", "(default: auto)", "20,000 rows"):
            assert shown in " ".join(proc.stdout.split()), shown
    if sub == "demo":
        assert "--full" in proc.stdout and "(default: levrf-report)" in proc.stdout


def test_version():
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"levrf {levrf.__version__}\n" == "levrf 0.1.0\n"


def test_experiment_approx_tiny(tmp_path):
    proc = run("experiment", "approx", "--dataset", "diabetes", "--n", "150", "--features", "10,80",
               "--seeds", "2", "--alpha", "0.1", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "approx.json").read_text())
    assert result["features"] == [10, 80] and result["n"] == 150
    eps = np.array(result["epsilon"]["gaussian"])
    assert eps.shape == (2, 2) and np.all(eps > 0)
    assert np.median(eps[1]) < np.median(eps[0])  # 8× the features: smaller spectral error
    assert (tmp_path / "approx.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    X, y = levrf.datasets.load("diabetes", standardize=False)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["target"] = y
    frame.to_csv(folder / "train.csv", index=False)
    frame.to_parquet(folder / "train.parquet")
    return folder, frame


@pytest.fixture(scope="module")
def fitted(table):
    """A model fitted by the command on the numeric table, and its predictions of that table."""
    folder, _ = table
    model = folder / "model.levrf"
    proc = run("fit", "--data", folder / "train.csv", "--target", "target", "--features", "16", "--quiet",
               "--out", model)
    assert proc.returncode == 0, proc.stderr
    predictions = folder / "pred.csv"
    proc = run("predict", "--model", model, "--data", folder / "train.csv", "--out", predictions)
    assert proc.returncode == 0, proc.stderr
    return model, pd.read_csv(predictions)["prediction"].to_numpy()


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_fit_predict_round_trip(tmp_path, table, suffix):
    folder, frame = table
    data = folder / f"train.{suffix}"
    model = tmp_path / "model.levrf"
    proc = run("fit", "--data", str(data), "--target", "target", "--features", "32", "--alpha", "0.1",
               "--quiet", "--out", str(model))
    assert proc.returncode == 0, proc.stderr
    # the summary names the settings, the resolved bandwidth sqrt(10) and the held-out score
    for part in ("442 rows × 10 columns", "gaussian:bandwidth=3.162", "n_features=32", "sampling=gaussian",
                 "alpha=0.1", "held-out R²"):
        assert part in proc.stdout, proc.stdout
    assert model.exists()
    fit_stdout = proc.stdout
    predictions = tmp_path / "pred.csv"
    proc = run("predict", "--model", str(model), "--data", str(data), "--out", str(predictions))
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(predictions)["prediction"].to_numpy()
    # the same fit in-process gives the same numbers
    from levrf.tabular import fit_table

    expected, summary = fit_table(data, "target", n_features=32, alpha=0.1)
    np.testing.assert_allclose(got, expected.predict(frame.drop(columns="target")), rtol=1e-12, atol=1e-9)
    r2 = 1 - np.mean((got - frame["target"]) ** 2) / np.var(frame["target"])
    assert r2 > 0.3
    assert f"held-out R² {summary.score:.4f} ({summary.n_holdout} rows" in fit_stdout  # the same split


def test_error_paths(tmp_path, table):
    folder, frame = table
    refused(run("fit", "--data", tmp_path / "missing.csv", "--target", "y", "--out", tmp_path / "m"),
            5, "does not exist")
    refused(run("fit", "--data", folder / "train.csv", "--target", "nope", "--out", tmp_path / "m"), 3, "'nope'")
    text = frame.copy()
    text["city"] = "Paris"
    text.to_csv(tmp_path / "text.csv", index=False)
    refused(run("fit", "--data", tmp_path / "text.csv", "--target", "target", "--categorical", "error",
                "--out", tmp_path / "m"), 3, "'city' is not numeric")
    refused(run("predict", "--model", folder / "train.csv", "--data", folder / "train.csv",
                "--out", tmp_path / "p.csv"), 4, "not a levrf model")
    assert not (tmp_path / "m").exists() and not (tmp_path / "p.csv").exists()
    proc = run("experiment", "approx", "--features", "0,5")
    assert proc.returncode == 2 and "positive" in proc.stderr


def test_kernel_spec_errors_list_the_valid_choices(tmp_path, table):
    folder, _ = table
    proc = run("fit", "--data", folder / "train.csv", "--target", "target", "--kernel", "matern:nuu=1.5",
               "--out", tmp_path / "m")
    assert proc.returncode == 2
    assert "kernel 'matern' has no parameter 'nuu'; its parameters are nu, bandwidth, dtype, device" in proc.stderr
    assert "MaternKernel" not in proc.stderr
    proc = run("fit", "--data", folder / "train.csv", "--target", "target", "--kernel", "gauss",
               "--out", tmp_path / "m")
    assert proc.returncode == 2 and "known kernels: gaussian, laplacian, matern, arccos, relu-ntk" in proc.stderr


def _bytes(path):
    return path.read_bytes()


def test_out_never_replaces_an_input(tmp_path, table, fitted):
    folder, _ = table
    model, _ = fitted
    data = tmp_path / "train.csv"
    data.write_bytes((folder / "train.csv").read_bytes())
    before = _bytes(data)
    # fit --out DATA
    refused(run("fit", "--data", data, "--target", "target", "--out", data), 5, "is the input file")
    # predict --out DATA, also under another name: a symlink and a hard link, and with --force
    link, hard = tmp_path / "link.csv", tmp_path / "hard.csv"
    link.symlink_to(data)
    os.link(data, hard)
    for out in (data, link, hard):
        refused(run("predict", "--model", model, "--data", data, "--out", out, "--force"), 5, "is the input file")
    # predict --out MODEL
    model_bytes = _bytes(model)
    refused(run("predict", "--model", model, "--data", data, "--out", model, "--force"), 5, "is the input file")
    assert _bytes(data) == before and _bytes(model) == model_bytes


def test_existing_output_needs_force(tmp_path, table, fitted):
    folder, _ = table
    model, expected = fitted
    out = tmp_path / "pred.csv"
    out.write_text("keep me\n")
    refused(run("predict", "--model", model, "--data", folder / "train.csv", "--out", out), 5,
            "already exists", "--force")
    assert out.read_text() == "keep me\n"
    proc = run("predict", "--model", model, "--data", folder / "train.csv", "--out", out, "--force")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(pd.read_csv(out)["prediction"].to_numpy(), expected, rtol=0,
                               atol=64 * EPS * np.abs(expected).max())
    assert [p.name for p in tmp_path.iterdir()] == ["pred.csv"]  # no temporary file left behind
    # the same for fit's model file
    other = tmp_path / "model.levrf"
    other.write_bytes(b"old")
    refused(run("fit", "--data", folder / "train.csv", "--target", "target", "--out", other), 5, "already exists")
    assert other.read_bytes() == b"old"
    proc = run("fit", "--data", folder / "train.csv", "--target", "target", "--features", "8", "--quiet",
               "--force", "--out", other)
    assert proc.returncode == 0, proc.stderr
    assert levrf.load(other) is not None


def test_output_path_errors_are_io_errors(tmp_path, table, fitted):
    folder, _ = table
    model, _ = fitted
    refused(run("fit", "--data", folder / "train.csv", "--target", "target", "--out", tmp_path), 5, "is a directory")
    refused(run("predict", "--model", model, "--data", folder / "train.csv", "--out", tmp_path, "--force"),
            5, "is a directory")
    refused(run("predict", "--model", model, "--data", folder / "train.csv", "--out", tmp_path / "no" / "p.csv"),
            5, "does not exist")
    refused(run("predict", "--model", tmp_path / "absent.levrf", "--data", folder / "train.csv",
                "--out", tmp_path / "p.csv"), 5, "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_model_of_the_wrong_kind_is_refused(tmp_path, table):
    folder, frame = table
    X = frame.drop(columns="target").to_numpy()
    features = levrf.RandomFeatures(levrf.GaussianKernel(3.0), n_features=4, random_state=0).fit(X)
    save(features, tmp_path / "rf.levrf")
    refused(run("predict", "--model", tmp_path / "rf.levrf", "--data", folder / "train.csv",
                "--out", tmp_path / "p.csv"), 4, "RandomFeatures")
    assert not (tmp_path / "p.csv").exists()


def test_columns_are_matched_by_name(tmp_path, table, fitted):
    folder, frame = table
    model, expected = fitted
    shuffled = frame[["target", *reversed(frame.columns.drop("target"))]].copy()
    shuffled.insert(3, "unrelated", np.arange(len(frame)) * 1e3)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    out = tmp_path / "p.csv"
    proc = run("predict", "--model", model, "--data", tmp_path / "shuffled.csv", "--out", out)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(out)["prediction"].to_numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=64 * EPS * scale)
    frame.drop(columns=["x3"]).to_csv(tmp_path / "short.csv", index=False)
    refused(run("predict", "--model", model, "--data", tmp_path / "short.csv", "--out", tmp_path / "q.csv"), 3,
            "predictor column 'x3' is missing from", "(the model was fitted on x0, x1, x2, x3, x4")


def test_target_is_not_a_predictor(tmp_path, table):
    folder, _ = table
    refused(run("fit", "--data", folder / "train.csv", "--target", "target", "--columns", "x0,target,x2",
                "--out", tmp_path / "m"), 3, "target column 'target'")
    assert not (tmp_path / "m").exists()


def test_bad_values_are_named(tmp_path, table):
    folder, frame = table
    (tmp_path / "header.csv").write_text(",".join(frame.columns) + "\n")
    refused(run("fit", "--data", tmp_path / "header.csv", "--target", "target", "--out", tmp_path / "m"), 3,
            "has no rows")
    huge = frame.copy()
    huge["x4"] = 1e300
    huge.to_csv(tmp_path / "huge.csv", index=False)
    refused(run("fit", "--data", tmp_path / "huge.csv", "--target", "target", "--out", tmp_path / "m"), 3,
            "column 'x4'", "overflow")
    text = (folder / "train.csv").read_text().splitlines()
    cells = text[5].split(",")
    cells[2] = "inf"
    text[5] = ",".join(cells)
    (tmp_path / "inf.csv").write_text("\n".join(text) + "\n")
    refused(run("fit", "--data", tmp_path / "inf.csv", "--target", "target", "--out", tmp_path / "m"), 3,
            "column 'x2'", "infinite")
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, table):
    """The table with a categorical column and missing values in a numeric and the categorical column."""
    _, frame = table
    folder = tmp_path_factory.mktemp("mixed")
    mixed = frame.copy()
    rng = np.random.default_rng(0)
    mixed["city"] = rng.choice(["Paris", "Lyon", "Nice"], size=len(frame))
    mixed.loc[rng.choice(len(frame), 30, replace=False), "x1"] = np.nan
    mixed.loc[rng.choice(len(frame), 20, replace=False), "city"] = None
    mixed.to_csv(folder / "mixed.csv", index=False)
    return folder, mixed


def test_categorical_and_missing_round_trip(tmp_path, mixed):
    folder, frame = mixed
    model = tmp_path / "model.levrf"
    proc = run("fit", "--data", folder / "mixed.csv", "--target", "target", "--features", "32", "--alpha", "0.1",
               "--quiet", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert "442 rows × 13 columns" in proc.stdout  # 10 numeric + 3 cities
    assert "note: imputed missing values: 30 in 'x1'" in proc.stderr and "20 in 'city'" in proc.stderr
    new = frame.drop(columns="target").iloc[:50].copy()
    new.loc[new.index[:4], "city"] = "Rome"  # unseen: all zeros, with a note
    new = new[list(reversed(new.columns))]
    new.to_csv(tmp_path / "new.csv", index=False)
    proc = run("predict", "--model", model, "--data", tmp_path / "new.csv", "--out", tmp_path / "p.csv")
    assert proc.returncode == 0, proc.stderr
    assert "note: 4 row(s) of 'city' hold categories not seen in training ('Rome')" in proc.stderr
    got = pd.read_csv(tmp_path / "p.csv")["prediction"].to_numpy()
    from levrf.tabular import fit_table

    with pytest.warns(levrf.tabular.TableNote, match="imputed missing values: 30 in 'x1'"):
        in_python, _ = fit_table(folder / "mixed.csv", "target", n_features=32, alpha=0.1)
    with pytest.warns(levrf.tabular.TableNote):
        expected = in_python.predict(pd.read_csv(tmp_path / "new.csv"))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_missing_drop_refuses_incomplete_rows_at_predict(tmp_path, mixed):
    folder, frame = mixed
    model = tmp_path / "model.levrf"
    proc = run("fit", "--data", folder / "mixed.csv", "--target", "target", "--features", "8", "--missing", "drop",
               "--quiet", "--out", model)
    assert proc.returncode == 0, proc.stderr
    n_incomplete = int(frame[["x1", "city"]].isna().any(axis=1).sum())
    assert f"{len(frame) - n_incomplete} rows" in proc.stdout
    assert f"dropped {n_incomplete} row(s) with a missing predictor value" in proc.stderr
    refused(run("predict", "--model", model, "--data", folder / "mixed.csv", "--out", tmp_path / "p.csv"), 3,
            f"{n_incomplete} row(s) have a missing value", "missing='drop'")


def test_deep_relu_ntk_fits_exact_kernel_ridge(tmp_path, table):
    folder, frame = table
    model = tmp_path / "ntk.levrf"
    proc = run("fit", "--data", folder / "train.csv", "--target", "target", "--kernel", "deep-relu-ntk:depth=2",
               "--alpha", "0.5", "--quiet", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert "exact kernel ridge" in proc.stdout and "deep-relu-ntk" in proc.stdout
    proc = run("predict", "--model", model, "--data", folder / "train.csv", "--out", tmp_path / "p.csv")
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(tmp_path / "p.csv")["prediction"].to_numpy()
    # the definition: standardize X and y; the exact kernel ridge with an unpenalized intercept b:
    # (K + αI) a + b1 = y_s, 1ᵀa = 0; predict K a + b, undo the target scaling
    X = frame.drop(columns="target").to_numpy()
    y = frame["target"].to_numpy()
    Xs = (X - X.mean(0)) / X.std(0)
    ys = (y - y.mean()) / y.std()
    K = levrf.DeepReLUNTK(depth=2)(Xs).numpy()
    A = K + 0.5 * np.eye(len(y))
    ones = np.ones(len(y))
    b = ones @ np.linalg.solve(A, ys) / (ones @ np.linalg.solve(A, ones))
    direct = (K @ np.linalg.solve(A, ys - b) + b) * y.std() + y.mean()
    cond = np.linalg.cond(K + 0.5 * np.eye(len(y)))
    np.testing.assert_allclose(got, direct, rtol=0, atol=cond * EPS * np.abs(y).max() * 16)
    refused(run("fit", "--data", folder / "train.csv", "--target", "target", "--kernel", "deep-relu-ntk",
                "--method", "random-features", "--out", tmp_path / "m"), 3, "--method exact")


def test_unnamed_model_uses_columns_by_position(tmp_path, table):
    folder, frame = table
    X = frame.drop(columns="target").to_numpy()
    ridge = levrf.RandomFeatureRidge(levrf.GaussianKernel(0.2), n_features=16, alpha=0.1, random_state=0)
    ridge.fit(X, frame["target"].to_numpy())
    save(ridge, tmp_path / "numpy.levrf")
    pd.DataFrame(X).to_csv(tmp_path / "ordered.csv", index=False)  # header 0,1,...,9
    proc = run("predict", "--model", tmp_path / "numpy.levrf", "--data", tmp_path / "ordered.csv",
               "--out", tmp_path / "p.csv")
    assert proc.returncode == 0, proc.stderr
    expected = ridge.predict(X)
    np.testing.assert_allclose(pd.read_csv(tmp_path / "p.csv")["prediction"], expected, rtol=1e-12,
                               atol=1e-9 * np.abs(expected).max())
    refused(run("predict", "--model", tmp_path / "numpy.levrf", "--data", folder / "train.csv",
                "--out", tmp_path / "q.csv"), 3, "used by position", "exactly 10 columns", "it has 11")
    pd.DataFrame(X).iloc[:, ::-1].to_csv(tmp_path / "reversed.csv", index=False)
    refused(run("predict", "--model", tmp_path / "numpy.levrf", "--data", tmp_path / "reversed.csv",
                "--out", tmp_path / "q.csv"), 3, "used by position", "out of that order")


def test_model_key_from_the_environment_signs_and_checks_model_files(tmp_path, table):
    folder, _ = table
    model = tmp_path / "signed.levrf"
    key = {"LEVRF_MODEL_KEY": "correct horse battery staple"}
    proc = run("fit", "--data", folder / "train.csv", "--target", "target", "--features", 16, "--out", model, env=key)
    assert proc.returncode == 0, proc.stderr
    ok = run("predict", "--model", model, "--data", folder / "train.csv", "--out", tmp_path / "p.csv", env=key)
    assert ok.returncode == 0, ok.stderr
    # the same file without the key, or with another one, is refused as a model-file error
    refused(run("predict", "--model", model, "--data", folder / "train.csv", "--out", tmp_path / "q.csv",
                env={"LEVRF_MODEL_KEY": ""}), 4, "key")
    refused(run("predict", "--model", model, "--data", folder / "train.csv", "--out", tmp_path / "r.csv",
                env={"LEVRF_MODEL_KEY": "wrong"}), 4)
    with pytest.raises(levrf.ModelFileError):
        levrf.load(model, key="wrong")
    from sklearn.base import is_regressor

    assert is_regressor(levrf.load(model, key=key["LEVRF_MODEL_KEY"]))
