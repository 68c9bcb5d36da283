"""levrf.distributed: Dask-distributed fits equal in-memory fits; faults; readers; validation.

The first tests use Dask's local threaded scheduler; the last ones a real
``distributed.LocalCluster`` with two worker processes (one module-scoped cluster, started once).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import levrf

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from levrf.distributed import (  # noqa: E402
    IncompleteReductionError,
    as_row_blocks,
    from_csv,
    from_parquet,
    from_zarr,
    normal_equations,
    read_table,
    unpickle_count,
)
from levrf.distributed.reduce import _add_parts, check_complete  # noqa: E402

torch.set_num_threads(1)

TOL = 1e-10
KERNEL = levrf.GaussianKernel(2.0)
GAUSS = dict(kernel=KERNEL, n_features=48, alpha=0.1, random_state=3)
# leverage sampling from a pool scored by the approximate method (a row subsample)
LEVERAGE = dict(GAUSS, sampling="leverage", leverage_method="approximate", pool_size=400)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((1500, 4))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(1500)
    return X, y


@pytest.fixture
def local_scheduler():
    """Dask's default local (threaded) scheduler, even if a distributed client exists."""
    with dask.config.set(scheduler="threads"):
        yield


def as_dask(X, y=None, rows=125):
    Xd = da.from_array(X, chunks=(rows, X.shape[1]))
    return Xd if y is None else (Xd, da.from_array(y, chunks=rows * 2))  # y deliberately rechunked


def max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ----------------------------------------------------------------------------- packaging
def test_import_levrf_does_not_import_dask():
    code = "import sys, levrf; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------------- local scheduler
@pytest.mark.parametrize("params", [GAUSS, LEVERAGE], ids=["gaussian", "leverage"])
def test_ridge_fit_and_predict_equal_in_memory(data, params, local_scheduler):
    X, y = data
    ref = levrf.RandomFeatureRidge(**params).fit(X, y)
    Xd, yd = as_dask(X, y)
    model = levrf.RandomFeatureRidge(**params).fit(Xd, yd)
    torch.testing.assert_close(model.features_.weights_, ref.features_.weights_, rtol=0, atol=0)
    torch.testing.assert_close(model.features_.importance_, ref.features_.importance_, rtol=0, atol=0)
    assert max_diff(model.coef_, ref.coef_) < TOL
    pred = model.predict(Xd)
    assert isinstance(pred, da.Array) and pred.shape == (len(X),)
    assert max_diff(pred.compute(), ref.predict(X)) < TOL
    # a Dask array from a fitted in-memory model too
    assert max_diff(ref.predict(Xd).compute(), ref.predict(X)) < TOL


def test_multi_output_targets_and_numpy_y(data, local_scheduler):
    X, y = data
    Y = np.column_stack([y, np.cos(X[:, 3])])
    ref = levrf.RandomFeatureRidge(**GAUSS).fit(X, Y)
    model = levrf.RandomFeatureRidge(**GAUSS).fit(as_dask(X), Y)  # in-memory y is split into X's blocks
    assert max_diff(model.coef_, ref.coef_) < TOL
    pred = model.predict(as_dask(X, rows=400))
    assert pred.shape == (len(X), 2)
    assert max_diff(pred.compute(), ref.predict(X)) < TOL


def test_normal_equations_are_the_explicit_products(data, local_scheduler):
    X, y = data
    features = levrf.RandomFeatures(**{k: v for k, v in GAUSS.items()}).fit(X)
    Psi = features.transform(X)  # the whole n x D matrix, the direct way
    Xd, yd = as_dask(X, y, rows=333)
    sums = normal_equations(features, Xd, yd)
    assert sums.n_rows == len(X)
    np.testing.assert_allclose(sums.gram.numpy(), Psi.T @ Psi, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(sums.xty.numpy()[:, 0], Psi.T @ y, rtol=1e-12, atol=1e-10)
    gram_only = normal_equations(features, Xd)
    assert gram_only.xty is None
    np.testing.assert_allclose(gram_only.gram.numpy(), Psi.T @ Psi, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize(
    "cv_params", [dict(cv=None), dict(cv=None, gcv=True), dict(cv=4)], ids=["loo", "gcv", "kfold"]
)
def test_ridge_cv_equals_in_memory(data, cv_params, local_scheduler):
    X, y = data
    params = dict(alphas=(0.03, 0.3, 3.0), kernel=KERNEL, n_features=48, random_state=2, **cv_params)
    ref = levrf.RandomFeatureRidgeCV(**params).fit(X, y)
    model = levrf.RandomFeatureRidgeCV(**params).fit(*as_dask(X, y, rows=220))
    assert model.alpha_ == ref.alpha_
    np.testing.assert_allclose(model.cv_mse_, ref.cv_mse_, rtol=1e-10)
    assert max_diff(model.coef_, ref.coef_) < TOL
    assert max_diff(model.predict(as_dask(X)).compute(), ref.predict(X)) < TOL


@pytest.mark.parametrize("n_targets", [1, 2])
def test_ridge_cv_stored_results_are_lazy_and_equal(data, n_targets, local_scheduler):
    X, y = data
    Y = y if n_targets == 1 else np.column_stack([y, X[:, 0] ** 2])
    params = dict(alphas=(0.01, 1.0), kernel=KERNEL, n_features=32, random_state=2, store_cv_results=True)
    ref = levrf.RandomFeatureRidgeCV(**params).fit(X, Y)
    model = levrf.RandomFeatureRidgeCV(**params).fit(*as_dask(X, Y))
    assert isinstance(model.cv_results_, da.Array)
    assert model.cv_results_.shape == ref.cv_results_.shape
    np.testing.assert_allclose(model.cv_results_.compute(), ref.cv_results_, rtol=1e-9, atol=1e-12)


def test_random_features_fit_and_transform_equal_in_memory(data, local_scheduler):
    X, _ = data
    ref = levrf.RandomFeatures(**LEVERAGE).fit(X)
    feats = levrf.RandomFeatures(**LEVERAGE).fit(as_dask(X))
    fitted = {k for k in vars(ref) if k.endswith("_") and not k.startswith("_")}
    assert fitted == {k for k in vars(feats) if k.endswith("_") and not k.startswith("_")}
    for name in fitted:
        a, b = getattr(ref, name), getattr(feats, name)
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        elif name != "kernel_":
            assert a == b, name
    Psi = feats.transform(as_dask(X, rows=400))
    assert isinstance(Psi, da.Array)
    assert max_diff(Psi.compute(), ref.transform(X)) < 1e-13


def test_leverage_sampling_never_collects_the_data(data, local_scheduler, monkeypatch):
    X, y = data
    ref = levrf.RandomFeatureRidge(**LEVERAGE).fit(X, y)

    def refuse(self, *args, **kwargs):
        raise AssertionError("a whole Dask array was converted to NumPy on the client")

    monkeypatch.setattr(da.Array, "__array__", refuse)
    model = levrf.RandomFeatureRidge(**LEVERAGE).fit(*as_dask(X, y))
    assert max_diff(model.coef_, ref.coef_) < TOL
    assert model.features_.sampling_info_["sampling_alpha"] == ref.features_.sampling_info_["sampling_alpha"]


def test_methods_that_need_all_rows_are_refused(data, local_scheduler):
    X, y = data
    Xd, yd = as_dask(X, y)
    with pytest.raises(ValueError, match="approximate"):
        levrf.RandomFeatureRidge(**dict(LEVERAGE, leverage_method="exact")).fit(Xd, yd)
    with pytest.raises(ValueError, match="approximate"):
        levrf.RandomFeatures(**dict(LEVERAGE, leverage_method="rejection")).fit(Xd)
    with pytest.raises(TypeError, match="Dask"):
        levrf.KernelRidge(KERNEL, alpha=0.1).fit(Xd, yd)
    with pytest.raises(ValueError, match="gram_dtype"):
        levrf.RandomFeatureRidge(KERNEL, gram_dtype="float32").fit(Xd, yd)
    with pytest.raises(ValueError, match="cv must be None"):
        from sklearn.model_selection import KFold

        levrf.RandomFeatureRidgeCV(cv=KFold(3, shuffle=True, random_state=0)).fit(Xd, yd)


def test_invalid_inputs_raise_named_errors(data, local_scheduler):
    X, y = data
    Xd = as_dask(X)
    model = levrf.RandomFeatureRidge(**GAUSS)
    with pytest.raises(ValueError, match="y has 1499 rows"):
        model.fit(Xd, y[:-1])
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.fit(da.from_array(y, chunks=100), y)
    with pytest.raises(TypeError, match="X must hold real numbers"):
        model.fit(da.from_array(np.array([["a", "b"]] * 4), chunks=2), np.zeros(4))
    bad = X.copy()
    bad[1100, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN.*row 1000"):
        model.fit(as_dask(bad), y)
    unknown = Xd[Xd[:, 0] > 0]  # boolean mask: unknown chunk sizes
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        model.fit(unknown, y)
    fitted = levrf.RandomFeatureRidge(**GAUSS).fit(Xd, y)
    with pytest.raises(ValueError, match="3 features"):
        fitted.predict(as_dask(X[:, :3]))
    with pytest.raises(TypeError, match="X must be a Dask array"):
        as_row_blocks(X)


def test_a_missing_or_repeated_partial_sum_is_refused(data):
    X, _ = data
    blocks = as_row_blocks(as_dask(X))  # 12 blocks of 125 rows
    parts = [{"gram": np.ones(1), "__rows__": 125, "__blocks__": (i,)} for i in range(12)]
    check_complete(_add_parts(*parts), blocks)  # complete: no error
    with pytest.raises(IncompleteReductionError, match="11 of 12 row blocks"):
        check_complete(_add_parts(*parts[:5], *parts[6:]), blocks)
    with pytest.raises(IncompleteReductionError, match="reduced twice"):
        _add_parts(*parts, parts[3])
    short = _add_parts(*parts)
    short["__rows__"] -= 1
    with pytest.raises(IncompleteReductionError, match="1499 rows but X has 1500"):
        check_complete(short, blocks)


# ----------------------------------------------------------------------------- readers
@pytest.fixture(scope="module")
def table(data):
    import pandas as pd

    X, y = data
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame["target"] = y
    frame["label"] = "text"  # a non-numeric column is skipped by default
    return frame


def test_from_parquet_reads_row_groups_in_order(table, tmp_path, local_scheduler):
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, len(table), 500)):
        table.iloc[start : start + 500].to_parquet(folder / f"part-{i:03d}.parquet", row_group_size=150)
    X, y = from_parquet(folder, target="target", chunk_rows=320)
    assert X.shape == (len(table), 4) and not any(np.isnan(c) for c in X.chunks[0])
    assert max(X.chunks[0]) <= 320 and len(X.chunks[0]) == 6
    np.testing.assert_array_equal(X.compute(), table[["x0", "x1", "x2", "x3"]].to_numpy())
    np.testing.assert_array_equal(y.compute(), table["target"].to_numpy())
    X2, y2 = read_table(str(folder), columns=["x2", "x0"], target="target")
    np.testing.assert_array_equal(X2.compute(), table[["x2", "x0"]].to_numpy())
    ref = levrf.RandomFeatureRidge(**GAUSS).fit(table[["x0", "x1", "x2", "x3"]].to_numpy(), table["target"])
    model = levrf.RandomFeatureRidge(**GAUSS).fit(X, y)
    assert max_diff(model.coef_, ref.coef_) < TOL
    with pytest.raises(ValueError, match=r"columns \['nope'\]"):
        from_parquet(folder, columns=["nope"])
    with pytest.raises(ValueError, match="no Parquet files"):
        from_parquet(tmp_path / "empty")


def test_from_csv_and_zarr(table, tmp_path, local_scheduler):
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    X, y = read_table(str(path), target="target", chunk_rows=400)
    assert X.chunks[0][0] == 400
    np.testing.assert_allclose(X.compute(), table[["x0", "x1", "x2", "x3"]].to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(y.compute(), table["target"].to_numpy(), rtol=1e-15)
    zarr = pytest.importorskip("zarr")
    store = tmp_path / "data.zarr"
    group = zarr.open_group(str(store), mode="w")
    create = getattr(group, "create_array", None) or group.array  # zarr 3 or zarr 2 (the declared floor)
    create("X", data=table[["x0", "x1", "x2", "x3"]].to_numpy(), chunks=(512, 4))
    create("y", data=table["target"].to_numpy(), chunks=(512,))
    Xz, yz = read_table(str(store), target="y")
    np.testing.assert_array_equal(Xz.compute(), table[["x0", "x1", "x2", "x3"]].to_numpy())
    Xz2, yz2 = from_zarr(store, chunk_rows=700)
    assert Xz2.chunks[0][0] == 700 and yz2.shape == (len(table),)
    with pytest.raises(TypeError, match="columns must be a list"):
        from_csv(path, columns="x0")


# ----------------------------------------------------------------------------- a real cluster
@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def shipped_counts(client) -> dict:
    """Per worker: how many times each shipped levrf object was unpickled there."""
    return client.run(unpickle_count)


@pytest.mark.parametrize("params", [GAUSS, LEVERAGE], ids=["gaussian", "leverage"])
def test_cluster_fit_equals_in_memory_and_ships_once(client, data, params):
    X, y = data
    before = shipped_counts(client)
    ref = levrf.RandomFeatureRidge(**params).fit(X, y)
    Xd, yd = as_dask(X, y, rows=75)  # 20 row blocks for 2 workers
    model = levrf.RandomFeatureRidge(**params).fit(Xd, yd)
    assert max_diff(model.coef_, ref.coef_) < TOL
    assert max_diff(model.predict(Xd).compute(), ref.predict(X)) < TOL
    after = shipped_counts(client)
    new = {
        (worker, key): count - before.get(worker, {}).get(key, 0)
        for worker, counts in after.items()
        for key, count in counts.items()
        if key.startswith("levrf-features") and count > before.get(worker, {}).get(key, 0)
    }
    # both workers ran tasks that needed the feature map, each received it exactly once
    assert len({worker for worker, _ in new}) == 2
    assert set(new.values()) == {1}


def test_cluster_fit_survives_a_killed_worker(client, data, tmp_path):
    X, y = data
    ref = levrf.RandomFeatureRidge(**GAUSS).fit(X, y)
    marker = str(tmp_path / "killed")
    pids_before = set(client.run(os.getpid).values())

    def kill_once(block, block_info=None):
        # the task for block 9 of 20 kills its worker process the first time it runs
        if block_info[0]["chunk-location"][0] == 9:
            try:
                open(marker, "x").close()
            except FileExistsError:
                return block
            os._exit(1)
        return block

    Xd = da.from_array(X, chunks=(75, 4)).map_blocks(kill_once, dtype=X.dtype, meta=np.empty((0, 0)))
    model = levrf.RandomFeatureRidge(**GAUSS).fit(Xd, y)
    assert os.path.exists(marker)  # the kill happened
    assert pids_before - set(client.run(os.getpid).values())  # that process is gone
    assert max_diff(model.coef_, ref.coef_) < TOL
    sums = normal_equations(model.features_, Xd, y)
    assert sums.n_rows == len(X)
