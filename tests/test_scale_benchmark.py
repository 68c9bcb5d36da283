"""benchmarks/scale.py's data and bookkeeping (the benchmark itself runs outside the test suite)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import levrf

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("scale_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_are_nested_and_streams_differ(scale):
    """The first n rows are the same for every n (10⁵ ⊂ 10⁶ ⊂ 10⁷); train and test differ."""
    X_small, y_small, f_small = scale.make_rows(1_000, seed=3, stream=0)
    X_big, y_big, f_big = scale.make_rows(scale.CHUNK_ROWS + 500, seed=3, stream=0)
    np.testing.assert_array_equal(X_small, X_big[:1_000])
    np.testing.assert_array_equal(y_small, y_big[:1_000])
    np.testing.assert_array_equal(f_small, scale.target_function(X_small))
    X_test, _, _ = scale.make_rows(1_000, seed=3, stream=1)
    assert not np.allclose(X_test, X_small)


def test_noise_sd_is_the_best_rmse(scale):
    """y − f* has sd NOISE_SD: Monte Carlo on 200,000 rows, tolerance 5 standard errors of the
    sample variance (Gaussian noise: var(s²) = 2σ⁴/n)."""
    n = 200_000
    _, y, f = scale.make_rows(n, seed=0, stream=1)
    s2 = float(np.mean((y - f) ** 2))
    se = math.sqrt(2.0 / n) * scale.NOISE_SD**2
    assert abs(s2 - scale.NOISE_SD**2) < 5 * se


def test_gaussian_closed_form_is_levrfs_kernel(scale):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((6, 10)), rng.standard_normal((4, 10))
    K = np.asarray(levrf.GaussianKernel(3.0)(A, B))
    np.testing.assert_allclose(scale.gaussian_closed_form(A, B, 3.0), K, rtol=0, atol=10 * np.finfo(np.float64).eps)


def test_direct_estimate_is_the_flop_count(scale):
    cal = {"R_syrk": 1e11, "c_rf": 1e-8, "R_chol": 5e10, "c_ny": 2e-11, "t_setup_ny": 2.0, "D0": 4096}
    n, D = 1_000_000, 16384
    rf = n * D**2 / 1e11 + 1e-8 * n * D + D**3 / 3 / 5e10
    assert scale.estimate_direct("rf", n, D, cal) == pytest.approx(rf, rel=1e-12)
    ny = n * D**2 / 1e11 + 2e-11 * n * D**2 + 2.0 * 4**3 + D**3 / 3 / 5e10
    assert scale.estimate_direct("nystrom", n, D, cal) == pytest.approx(ny, rel=1e-12)


def test_plan_streams_only_above_the_in_memory_limit(scale):
    args = scale.parse_args(["--n", "100000", "10000000", "--D", "2048", "16384"])
    args.n, args.D, args.dask_D, args.gpu = [100_000, 10_000_000], [2048, 16384], [2048], False
    runs = scale.plan(args, scale.FULL)
    assert {m for n, _, m, _ in runs if n == 100_000} == set(scale.METHODS)
    assert {(D, m) for n, D, m, _ in runs if n == 10_000_000} == {(2048, m) for m in scale.DASK_METHODS}


def test_arguments_are_validated(scale):
    with pytest.raises(SystemExit):
        scale.parse_args(["--n", "0"])
    with pytest.raises(SystemExit):
        scale.parse_args(["--penalty", "-1"])
