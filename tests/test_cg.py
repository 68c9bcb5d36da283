"""solver="cg": matrix-free preconditioned CG equals the Cholesky fit; preconditioner, warnings,
Dask, cache, warm start, float32 with its float64 check, validation, the auto rule."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import levrf
from levrf.features import slim_copy
from levrf.ridge.cg import (
    DEFAULT_MAX_ITER,
    FLOAT32_PHASE_TOL,
    PRECONDITIONER_ROWS_PER_FEATURE,
    GramOperator,
    conjugate_gradient,
    preconditioner_rows,
    solve_ridge_cg,
)
from levrf.ridge.solver_choice import (
    CG_ADVANTAGE,
    CG_MIN_ROWS,
    FEATURE_ELEMENT_COST,
    ITERATIONS,
    KERNEL_ELEMENT_COST,
    MATVEC_WEIGHT,
    NYSTROM_CG_MIN_ROWS,
    choose_solver,
    solver_costs,
)
from levrf.rows import TensorRows

torch.set_num_threads(1)

KERNEL = levrf.GaussianKernel(2.0)
EXACT = dict(tol=1e-13, max_iter=2000)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((700, 4))
    Y = np.c_[np.sin(X[:, 0]) + 0.3 * X[:, 1] * X[:, 2], np.cos(X[:, 1])] + 0.05 * rng.standard_normal((700, 2)) + 3.0
    return X, Y


def rel(a, b) -> float:
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


REGRESSORS = {
    "random": (levrf.RandomFeatureRidge, dict(kernel=KERNEL, n_features=40, alpha=0.05, random_state=2)),
    "nystrom-uniform": (levrf.NystromRidge, dict(kernel=KERNEL, n_components=80, alpha=0.05, random_state=2)),
    "nystrom-leverage": (levrf.NystromRidge,
                         dict(kernel=KERNEL, n_components=80, centers="leverage", alpha=0.05, random_state=2)),
}


# ----------------------------------------------------------------------------- CG = Cholesky
@pytest.mark.parametrize("name", sorted(REGRESSORS))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("targets", ["single", "multi"])
def test_cg_equals_cholesky_regression(data, name, fit_intercept, targets):
    X, Y = data
    y = Y[:, 0] if targets == "single" else Y
    cls, kw = REGRESSORS[name]
    direct = cls(**kw, fit_intercept=fit_intercept, solver="cholesky").fit(X, y)
    cg = cls(**kw, fit_intercept=fit_intercept, solver="cg", **EXACT).fit(X, y)
    assert direct.solver_ == "cholesky" and direct.n_iter_ == 0 and direct.cg_residuals_ == []
    assert cg.solver_ == "cg" and cg.n_iter_ >= 1 and cg.cg_residuals_[-1] <= EXACT["tol"]
    assert len(cg.cg_residuals_) == cg.n_iter_ + 1 and cg.cg_residuals_[0] == 1.0
    assert rel(cg.coef_, direct.coef_) <= 1e-8
    assert rel(cg.predict(X), direct.predict(X)) <= 1e-8
    if fit_intercept:
        assert rel(cg.intercept_, direct.intercept_) <= 1e-8
    else:
        assert float(cg.intercept_.abs().max()) == 0.0


@pytest.mark.parametrize("cls, kw", [
    (levrf.RandomFeatureRidgeClassifier, dict(kernel=KERNEL, n_features=40, alpha=0.05, random_state=2)),
    (levrf.NystromRidgeClassifier, dict(kernel=KERNEL, n_components=80, alpha=0.05, random_state=2)),
])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_cg_equals_cholesky_classification(data, cls, kw, n_classes):
    X, Y = data
    labels = np.digitize(Y[:, 0], np.quantile(Y[:, 0], np.linspace(0, 1, n_classes + 1)[1:-1]))
    direct = cls(**kw, solver="cholesky").fit(X, labels)
    cg = cls(**kw, solver="cg", **EXACT).fit(X, labels)
    assert rel(cg.coef_, direct.coef_) <= 1e-8
    assert rel(cg.decision_function(X), direct.decision_function(X)) <= 1e-8
    np.testing.assert_array_equal(cg.predict(X), direct.predict(X))


def test_nystrom_cg_never_forms_psi(data, monkeypatch):
    """The iterations use K(X, C) and the fixed factor: Nystroem.feature_map runs only on the
    centers (the preconditioner), never on the training rows."""
    X, Y = data
    seen = []
    original = levrf.Nystroem.feature_map

    def spy(self, rows, out=None):
        seen.append(rows.shape[0])
        return original(self, rows, out=out)

    monkeypatch.setattr(levrf.Nystroem, "feature_map", spy)
    with levrf.config_context(cg_cache_bytes=1):
        levrf.NystromRidge(KERNEL, n_components=80, alpha=0.05, solver="cg").fit(X, Y[:, 0])
    assert seen == [80]


# ----------------------------------------------------------------------------- preconditioner
def test_preconditioner_cuts_iterations_fivefold():
    """Small α, strongly correlated inputs (two near-copies of columns), wide bandwidth."""
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((2000, 3))
    X = np.c_[Z, Z[:, :2] + 0.05 * rng.standard_normal((2000, 2))]
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(2000)
    rows = TensorRows(torch.tensor(X), torch.tensor(y)[:, None])
    features = levrf.RandomFeatures(levrf.GaussianKernel(3.0), n_features=60, random_state=0).fit_rows(rows)
    runs = {pc: solve_ridge_cg(slim_copy(features), rows, 1e-4, fit_intercept=True, tol=1e-8, max_iter=3000,
                               preconditioner=pc) for pc in ("auto", None)}
    assert runs["auto"].converged and runs[None].converged
    assert 5 * runs["auto"].n_iter <= runs[None].n_iter
    assert rel(runs["auto"].coef, runs[None].coef) <= 1e-3  # both at residual 1e-8, cond(A) ~ 1e6
    assert preconditioner_rows(2000, 120) == min(2000, PRECONDITIONER_ROWS_PER_FEATURE * 120)


def test_conjugate_gradient_on_a_known_system():
    """An explicit SPD matrix: CG's answer is torch.linalg.solve's; without a preconditioner
    it ends within D iterations (up to rounding, here D + a few) and per-column."""
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(torch.logspace(0, 3, 30, dtype=torch.float64)) @ Q.T
    R = torch.randn(30, 3, generator=g, dtype=torch.float64)
    R[:, 2] = 0.0  # a zero column converges at once and must not produce NaN
    res = conjugate_gradient(lambda P: A @ P, R, tol=1e-12, max_iter=200)
    assert res.converged and res.n_iter <= 60
    assert rel(res.coef, torch.linalg.solve(A, R)) <= 1e-9
    assert bool(torch.isfinite(res.coef).all()) and float(res.coef[:, 2].abs().max()) == 0.0


# ----------------------------------------------------------------------------- non-convergence
def test_max_iter_warns_and_keeps_the_best_iterate(data):
    X, Y = data
    model = levrf.RandomFeatureRidge(**REGRESSORS["random"][1], solver="cg", max_iter=2, tol=1e-14)
    with pytest.warns(ConvergenceWarning, match="conjugate gradient stopped after 2 iterations"):
        model.fit(X, Y)
    assert model.n_iter_ == 2 and len(model.cg_residuals_) == 3
    # the residual of the returned β, computed from the dense Ψ
    Psi = torch.as_tensor(model.features_.transform(X))
    mu, ybar = Psi.mean(0), torch.as_tensor(Y).mean(0)
    Pc, Yc = Psi - mu, torch.as_tensor(Y) - ybar
    R = Pc.T @ Yc
    resid = R - Pc.T @ (Pc @ model.coef_) - model.alpha * model.coef_
    measured = float(torch.linalg.norm(resid) / torch.linalg.norm(R))
    assert measured == pytest.approx(min(model.cg_residuals_), rel=1e-8)
    assert min(model.cg_residuals_) > 1e-14
    assert rel(model.intercept_, ybar - mu @ model.coef_) <= 1e-12


# ----------------------------------------------------------------------------- data paths
def test_cached_equals_recomputed(data):
    X, Y = data
    for cls, kw in REGRESSORS.values():
        cached = cls(**kw, solver="cg", **EXACT).fit(X, Y)
        with levrf.config_context(cg_cache_bytes=1):
            streamed = cls(**kw, solver="cg", **EXACT).fit(X, Y)
        assert rel(streamed.coef_, cached.coef_) <= 1e-10
        assert streamed.n_iter_ == cached.n_iter_


def test_cache_follows_the_budget(data):
    X, Y = data
    rows = TensorRows(torch.tensor(X), torch.tensor(Y))
    features = levrf.RandomFeatures(KERNEL, n_features=40).fit_rows(rows)
    assert GramOperator(features, rows).cached
    with levrf.config_context(cg_cache_bytes=700 * 80 * 8 - 1):
        assert not GramOperator(features, rows).cached
    with levrf.config_context(cg_cache_bytes=700 * 80 * 8):
        assert GramOperator(features, rows).cached


def test_dask_cg_equals_in_memory_cg(data):
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, Y = data
    with dask.config.set(scheduler="threads"):
        for cls, kw in (REGRESSORS["random"], REGRESSORS["nystrom-uniform"]):
            memory = cls(**kw, solver="cg", **EXACT).fit(X, Y)
            distributed = cls(**kw, solver="cg", **EXACT).fit(da.from_array(X, chunks=(100, 4)),
                                                               da.from_array(Y, chunks=(150, 2)))
            assert rel(distributed.coef_, memory.coef_) <= 1e-8
            assert rel(distributed.intercept_, memory.intercept_) <= 1e-8


# ----------------------------------------------------------------------------- warm start
def test_warm_start_converges_at_once(data):
    X, Y = data
    cls, kw = REGRESSORS["nystrom-uniform"]
    model = cls(**kw, solver="cg", tol=1e-10, warm_start=True).fit(X, Y)
    cold = model.n_iter_
    assert cold > 5
    model.fit(X, Y)  # same seed, same features: the previous coef_ solves it already
    assert model.n_iter_ <= 2
    model.set_params(alpha=0.06).fit(X, Y)  # a nearby problem: fewer iterations than from zero
    fresh = cls(**{**kw, "alpha": 0.06}, solver="cg", tol=1e-10).fit(X, Y)
    assert model.n_iter_ < fresh.n_iter_
    assert rel(model.coef_, fresh.coef_) <= 1e-7
    # without warm_start, or with another shape, the start is zero
    other = cls(**{**kw, "n_components": 50}, solver="cg", tol=1e-10, warm_start=True)
    other.coef_ = model.coef_
    other.fit(X, Y)
    assert other.cg_residuals_[0] == 1.0


# ----------------------------------------------------------------------------- float32
def test_float32_products_are_checked_and_finished_in_float64(data):
    X, Y = data
    kw = REGRESSORS["random"][1]
    direct = levrf.RandomFeatureRidge(**kw, solver="cholesky").fit(X, Y)
    model = levrf.RandomFeatureRidge(**kw, solver="cg", gram_dtype="float32", tol=1e-11).fit(X, Y)
    assert model.coef_.dtype == torch.float64
    # the float32 phase stopped at FLOAT32_PHASE_TOL by its recursive residual; the float64
    # check measured the true residual of that iterate above tol (a bad iterate for tol) and
    # the float64 phase took it on to tol
    k = next(i for i, v in enumerate(model.cg_residuals_) if v <= FLOAT32_PHASE_TOL)
    checked = model.cg_residuals_[k + 1]
    assert checked > 1e-11
    assert model.cg_residuals_[-1] <= 1e-11
    assert rel(model.coef_, direct.coef_) <= 1e-8


def test_float32_dtype_solves_the_float32_features_system(data):
    X, Y = data
    kw = dict(REGRESSORS["nystrom-uniform"][1], dtype="float32")
    model = levrf.NystromRidge(**kw, solver="cg", tol=1e-9, max_iter=1000).fit(X, Y)
    assert model.coef_.dtype == torch.float32
    # the system the float64 check measures: the float32 base features K(X, C), evaluated as the
    # fit evaluates them (its row chunks, the centers prepared once), and the factor N in float64
    fm = model.features_
    K = torch.cat([B.clone() for _s, B in fm.iter_base_chunks(torch.tensor(X, dtype=torch.float32))])
    Psi = K.double() @ fm.normalization_.double()
    mu = Psi.mean(0)
    Pc, Yc = Psi - mu, torch.as_tensor(Y) - torch.as_tensor(Y).mean(0)
    A = Pc.T @ Pc + 0.05 * torch.eye(Psi.shape[1], dtype=torch.float64)
    exact = torch.linalg.solve(A, Pc.T @ Yc)
    cond = float(torch.linalg.cond(A))
    # β is rounded to float32 at the end; the solve itself is float64 to tol
    assert rel(model.coef_.double(), exact) <= 4 * torch.finfo(torch.float32).eps + 1e-9 * cond
    assert model.cg_residuals_[-1] <= 1e-9


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("cls", [levrf.RandomFeatureRidge, levrf.RandomFeatureRidgeClassifier,
                                 levrf.NystromRidge, levrf.NystromRidgeClassifier])
@pytest.mark.parametrize("param, value, error", [
    ("solver", "lsqr", ValueError), ("solver", 1, TypeError), ("tol", 0.0, ValueError), ("tol", -1.0, ValueError),
    ("tol", "small", TypeError), ("max_iter", 0, ValueError), ("max_iter", 2.5, TypeError),
    ("warm_start", "yes", TypeError),
])
def test_bad_solver_parameters_are_refused_by_name(data, cls, param, value, error):
    X, Y = data
    y = Y[:, 0] if "Classifier" not in cls.__name__ else (Y[:, 0] > 3).astype(int)
    with pytest.raises(error, match=param):
        cls(**{param: value}).fit(X, y)


def test_solver_parameters_are_keyword_only_at_the_end():
    import inspect

    for cls in (levrf.RandomFeatureRidge, levrf.RandomFeatureRidgeClassifier, levrf.NystromRidge,
                levrf.NystromRidgeClassifier):
        params = list(inspect.signature(cls.__init__).parameters.values())
        assert [p.name for p in params[-4:]] == ["solver", "tol", "max_iter", "warm_start"]
        assert all(p.kind == p.KEYWORD_ONLY for p in params[-4:])
        assert {"solver", "tol", "max_iter", "warm_start"} <= set(cls._parameter_constraints)
        doc = cls.__doc__
        assert "solver : {" in doc and "tol : float" in doc and "warm_start : bool" in doc
    assert str(DEFAULT_MAX_ITER) in levrf.RandomFeatureRidge.__doc__


def test_max_iter_none_is_the_documented_default(data):
    X, Y = data
    model = levrf.RandomFeatureRidge(**REGRESSORS["random"][1], solver="cg", tol=1e-300)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, Y[:, 0])
    assert model.n_iter_ <= DEFAULT_MAX_ITER


def test_progress_bar_shows_the_residual(data, capsys):
    X, Y = data
    levrf.progress.enable(True)
    try:
        levrf.RandomFeatureRidge(**REGRESSORS["random"][1], solver="cg").fit(X, Y[:, 0])
    finally:
        levrf.progress.enable(False)
    assert "levrf CG" in capsys.readouterr().err
    levrf.RandomFeatureRidge(**REGRESSORS["random"][1], solver="cg").fit(X, Y[:, 0])
    assert "levrf CG" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- the auto rule
def test_solver_costs_by_hand():
    n, D = 10_000, 1_000
    phi = FEATURE_ELEMENT_COST
    costs = solver_costs(n, D)
    assert costs.direct == pytest.approx(n * D**2 + D**3 / 3 + n * D * phi)
    r = 2 * D
    per_iteration = MATVEC_WEIGHT * 4 * n * D + n * D * phi
    assert costs.cg == pytest.approx(r * D**2 + D**3 / 3 + r * D * phi + n * D * phi + ITERATIONS * per_iteration)
    cached = solver_costs(n, D, cached=True, n_targets=3)
    assert cached.cg == pytest.approx(r * D**2 + D**3 / 3 + r * D * phi + n * D * phi
                                      + ITERATIONS * MATVEC_WEIGHT * 4 * n * D * 3)
    # Nyström: the direct fit forms ψ = K(X, C_r)·L_rr⁻ᵀ (n·D²), CG preconditions on the M centers
    # (its base elements are kernel values, of cost KERNEL_ELEMENT_COST)
    M, kappa = 1_200, KERNEL_ELEMENT_COST
    ny = solver_costs(n, D, n_base=M, nystrom=True, preconditioner_rows=M)
    assert ny.direct == pytest.approx(n * D**2 + D**3 / 3 + n * M * kappa + n * D**2)
    assert ny.cg == pytest.approx(M * D**2 + D**3 / 3 + M * M * kappa + n * M * kappa
                                  + ITERATIONS * (MATVEC_WEIGHT * 4 * n * M + n * M * kappa))


def test_auto_picks_cg_only_when_clearly_cheaper():
    # every random-feature setting of benchmarks/krr.py and approximation.py stays direct
    for n in (2_000, 10_000, 43_000, 53_000):
        for D in (64, 512, 2_048, 4_096, 8_192):
            for cached in (True, False):
                assert choose_solver(n, D, cached=cached) == "cholesky"
    # Nyström: direct below NYSTROM_CG_MIN_ROWS rows, where pivots are dropped (D = r well below
    # M) and where K(X, C) does not fit the cache; CG where all M centers are kept and it does
    for D in (64, 512, 2_048, 4_096, 8_192):
        for cached in (True, False):
            assert choose_solver(NYSTROM_CG_MIN_ROWS - 1, D, n_base=D, nystrom=True, preconditioner_rows=D,
                                 cached=cached) == "cholesky"
    for n in (20_000, 43_000, 53_000):
        for D in (64, 512, 4_096, 8_192):
            assert choose_solver(n, D, n_base=D, nystrom=True, preconditioner_rows=D, cached=False) == "cholesky"
        assert choose_solver(n, 600, n_base=2_048, nystrom=True, preconditioner_rows=2_048, cached=True) == "cholesky"
    flights = solver_costs(20_000, 2_048, n_base=2_048, nystrom=True, preconditioner_rows=2_048, cached=True)
    assert flights.solver == "cg" and flights.cg <= CG_ADVANTAGE * flights.direct
    # the measured large-M case (benchmarks/results/scale.md: n = 10⁶, M = 16,384, CG 0.21× the
    # direct fit's estimate) goes to CG
    assert choose_solver(10**6, 16_384, n_base=16_384, nystrom=True, preconditioner_rows=16_384) == "cg"
    # a very wide random-feature map on many rows, and a large Nyström map, go to CG
    assert choose_solver(10**7, 65_536) == "cg"
    assert choose_solver(10**7, 65_536, n_base=65_536, nystrom=True, preconditioner_rows=65_536) == "cg"
    # the margin: CG must cost at most CG_ADVANTAGE of the direct fit, on CG_MIN_ROWS rows or more
    for n, D in ((10**6, 16_384), (10**7, 32_768), (10**6, 65_536), (CG_MIN_ROWS, 8_192)):
        for cached in (True, False):
            c = solver_costs(n, D, cached=cached)
            assert (c.solver == "cg") == (c.cg <= CG_ADVANTAGE * c.direct)
    below = solver_costs(NYSTROM_CG_MIN_ROWS - 1, 4_096, n_base=4_096, nystrom=True, preconditioner_rows=4_096,
                         cached=True)
    assert below.cg <= CG_ADVANTAGE * below.direct and below.solver == "cholesky"


def test_auto_resolves_to_cholesky_on_small_problems(data):
    X, Y = data
    for cls, kw in REGRESSORS.values():
        assert cls(**kw).fit(X, Y).solver_ == "cholesky"


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_solver_costs_validate(bad):
    with pytest.raises((ValueError, TypeError), match="n_rows"):
        solver_costs(bad, 10)


# ----------------------------------------------------------------------------- persistence, CUDA
def test_cg_model_round_trips(tmp_path, data):
    X, Y = data
    for cls, kw in REGRESSORS.values():
        model = cls(**kw, solver="cg", tol=1e-9, max_iter=300, warm_start=True).fit(X, Y)
        path = levrf.save(model, tmp_path / f"{cls.__name__}.levrf")
        back = levrf.load(path)
        assert back.get_params()["solver"] == "cg" and back.tol == 1e-9 and back.max_iter == 300 and back.warm_start
        assert back.solver_ == "cg" and back.n_iter_ == model.n_iter_ and back.cg_residuals_ == model.cg_residuals_
        np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["random", "nystrom-uniform"])
def test_cg_on_cuda_equals_cholesky(data, name):
    X, Y = data
    cls, kw = REGRESSORS[name]
    direct = cls(**kw, solver="cholesky").fit(X, Y)
    for budget in (None, 1):
        with levrf.config_context(cg_cache_bytes=budget):
            gpu = cls(**kw, solver="cg", device="cuda", **EXACT).fit(X, Y)
        assert gpu.coef_.device.type == "cuda"
        assert rel(gpu.coef_.cpu(), direct.coef_) <= 1e-8


def test_no_warning_when_converged(data):
    X, Y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        levrf.RandomFeatureRidge(**REGRESSORS["random"][1], solver="cg").fit(X, Y)


def test_max_iter_is_capped_at_what_a_model_file_can_hold():
    X, y = np.ones((10, 2)), np.ones(10)
    with pytest.raises(ValueError, match=r"max_iter must be an integer in \[1, 4000\], got 4001"):
        levrf.RandomFeatureRidge(solver="cg", max_iter=4001).fit(X, y)
