"""``levrf fit --features-kind nystrom`` and ``--leverage-method``, run through a subprocess (issue 18)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import levrf
from levrf.tabular import fit_table


def run(*args):
    return subprocess.run([sys.executable, "-m", "levrf", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    X, y = levrf.datasets.load("diabetes", standardize=False)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["target"] = y
    frame.to_csv(folder / "train.csv", index=False)
    return folder / "train.csv", frame


@pytest.mark.parametrize("centers", ["uniform", "leverage"])
def test_nystrom_round_trip_equals_the_in_python_model(tmp_path, table, centers):
    data, frame = table
    model, predictions = tmp_path / "model.levrf", tmp_path / "pred.csv"
    proc = run("fit", "--data", data, "--target", "target", "--features-kind", "nystrom", "--features", "40",
               "--centers", centers, "--alpha", "0.1", "--quiet", "--out", model)
    assert proc.returncode == 0, proc.stderr
    assert f"Nyström (n_components=40, centers={centers})" in proc.stdout, proc.stdout
    proc = run("predict", "--model", model, "--data", data, "--out", predictions)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(predictions)["prediction"].to_numpy()
    expected, summary = fit_table(data, "target", n_features=40, alpha=0.1, features_kind="nystrom", centers=centers)
    assert isinstance(expected.regressor_[-1], levrf.NystromRidge)
    assert expected.regressor_[-1].features_.centers_.shape[0] == 40
    ref = expected.predict(frame.drop(columns="target"))
    # the CSV keeps 17 significant digits: equal up to the rounding of the predictions
    np.testing.assert_allclose(got, ref, rtol=0, atol=64 * np.finfo(np.float64).eps * float(np.abs(ref).max()))
    r2 = 1 - np.mean((got - frame["target"]) ** 2) / np.var(frame["target"])
    assert r2 > 0.3


def test_nystrom_fits_a_kernel_without_random_features(tmp_path, table):
    data, _ = table
    proc = run("fit", "--data", data, "--target", "target", "--kernel", "deep-relu-ntk:depth=2",
               "--features-kind", "nystrom", "--features", "24", "--quiet", "--out", tmp_path / "m.levrf")
    assert proc.returncode == 0, proc.stderr
    assert "Nyström (n_components=24" in proc.stdout


def test_leverage_method_reaches_the_model(table):
    data, _ = table
    model, _ = fit_table(data, "target", n_features=16, sampling="leverage", leverage_method="approximate",
                         score=False)
    ridge = model.regressor_[-1]
    assert ridge.leverage_method == "approximate"
    assert ridge.features_.sampling_info_["method"] == "approximate"
    auto, _ = fit_table(data, "target", n_features=16, sampling="leverage", score=False)
    assert auto.regressor_[-1].features_.sampling_info_["method"] == "exact"  # 442 rows fit the budget


def test_bad_choices_are_usage_errors(tmp_path, table):
    data, _ = table
    for flag, value in (("--features-kind", "forest"), ("--centers", "kmeans"), ("--leverage-method", "magic")):
        proc = run("fit", "--data", data, "--target", "target", flag, value, "--out", tmp_path / "m.levrf")
        assert proc.returncode == 2 and "invalid choice" in proc.stderr, proc.stderr
    for name, value in (("features_kind", "forest"), ("centers", "kmeans"), ("leverage_method", "magic")):
        with pytest.raises(ValueError, match=name):
            fit_table(data, "target", **{name: value})


@pytest.mark.parametrize("kind", ["random", "nystrom"])
def test_solver_reaches_the_model_file(tmp_path, table, kind):
    data, frame = table
    model = tmp_path / "cg.levrf"
    proc = run("fit", "--data", data, "--target", "target", "--features-kind", kind, "--features", "32",
               "--solver", "cg", "--quiet", "--out", model)
    assert proc.returncode == 0, proc.stderr
    ridge = levrf.load(model).regressor_[-1]
    assert ridge.solver == "cg" and ridge.solver_ == "cg" and ridge.n_iter_ >= 1
    direct, _ = fit_table(data, "target", n_features=32, features_kind=kind, solver="cholesky", score=False)
    assert direct.regressor_[-1].solver_ == "cholesky"
    X = frame.drop(columns="target")
    ref = direct.predict(X)
    # CG stops at tol=1e-6 (relative residual): predictions agree to about that
    np.testing.assert_allclose(levrf.load(model).predict(X), ref, rtol=0, atol=1e-4 * float(np.abs(ref).max()))


def test_solver_default_is_in_help_and_bad_solver_refused(tmp_path, table):
    data, _ = table
    proc = run("fit", "--help")
    assert "--solver {auto,cholesky,cg}" in proc.stdout and "default: auto" in proc.stdout
    proc = run("fit", "--data", data, "--target", "target", "--solver", "lsqr", "--out", tmp_path / "m.levrf")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    with pytest.raises(ValueError, match="solver"):
        fit_table(data, "target", solver="lsqr")
