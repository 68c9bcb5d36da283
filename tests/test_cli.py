"""The ``levrf`` command, run as a user would: through a subprocess."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import levrf

SUBCOMMANDS = ["demo", "experiment", "fit", "predict"]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "levrf", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("sub", [None, *SUBCOMMANDS])
def test_help(sub):
    proc = run(*([sub] if sub else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: levrf" in proc.stdout


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


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_fit_predict_round_trip(tmp_path, table, suffix):
    folder, frame = table
    data = folder / f"train.{suffix}"
    model = tmp_path / "model.levrf"
    proc = run("fit", "--data", str(data), "--target", "target", "--features", "32", "--alpha", "0.1",
               "--quiet", "--out", str(model))
    assert proc.returncode == 0, proc.stderr
    assert "fitted" in proc.stdout and model.exists()
    predictions = tmp_path / "pred.csv"
    proc = run("predict", "--model", str(model), "--data", str(data), "--out", str(predictions))
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(predictions)["prediction"].to_numpy()
    # the same fit in-process gives the same numbers
    from levrf.tabular import fit_table

    expected, _ = fit_table(data, "target", n_features=32, alpha=0.1)
    np.testing.assert_allclose(got, expected.predict(frame.drop(columns="target")), rtol=1e-12, atol=1e-9)
    r2 = 1 - np.mean((got - frame["target"]) ** 2) / np.var(frame["target"])
    assert r2 > 0.3


def test_error_paths(tmp_path, table):
    folder, frame = table
    proc = run("fit", "--data", str(tmp_path / "missing.csv"), "--target", "y", "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run("fit", "--data", str(folder / "train.csv"), "--target", "nope", "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "nope" in proc.stderr
    text = frame.copy()
    text["city"] = "Paris"
    text.to_csv(tmp_path / "text.csv", index=False)
    proc = run("fit", "--data", str(tmp_path / "text.csv"), "--target", "target", "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "'city' is not numeric" in proc.stderr
    proc = run("predict", "--model", str(folder / "train.csv"), "--data", str(folder / "train.csv"),
               "--out", str(tmp_path / "p.csv"))
    assert proc.returncode == 2 and "not a levrf model" in proc.stderr
    assert not (tmp_path / "m").exists()
    # a model fitted on the full table, fed a table without one of its columns
    model = tmp_path / "ok.levrf"
    assert run("fit", "--data", str(folder / "train.csv"), "--target", "target", "--features", "8",
               "--out", str(model)).returncode == 0
    frame.drop(columns=["x3"]).to_csv(tmp_path / "short.csv", index=False)
    proc = run("predict", "--model", str(model), "--data", str(tmp_path / "short.csv"), "--out", str(tmp_path / "p.csv"))
    assert proc.returncode == 2 and "x3" in proc.stderr
    proc = run("experiment", "approx", "--features", "0,5")
    assert proc.returncode == 2 and "positive" in proc.stderr
