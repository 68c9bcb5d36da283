"""Fuzzing the estimators with hostile inputs: every failure is a ValueError/TypeError with a
message, never a crash of another type and never a silent NaN/inf prediction."""

import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levrf

torch.set_num_threads(1)

ESTIMATORS = {
    "KernelRidge": levrf.KernelRidge,
    "KernelRidgeClassifier": levrf.KernelRidgeClassifier,
    "RandomFeatureRidge": levrf.RandomFeatureRidge,
    "RandomFeatureRidgeClassifier": levrf.RandomFeatureRidgeClassifier,
    "RandomFeatureRidgeCV": levrf.RandomFeatureRidgeCV,
}
#: derandomized (same examples every run); FUZZ_EXAMPLES=5000 runs a deeper campaign
SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

any_float = st.one_of(
    st.floats(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),  # includes ±1e308 and subnormals
    st.sampled_from([0.0, 1e308, -1e308, 1e39, 1e-320, 1e200]),
)
CORRUPTIONS = [
    "none", "none", "none", "none", "nan", "inf", "1-D X", "3-D X", "no rows", "no columns",
    "mismatched y", "string X", "object X", "complex X", "int8 X", "bool X", "string y", "nan y", "bad params",
]

#: corruptions that no estimator may accept ("string X" may hold numeric strings such as "1.5")
MUST_FAIL = {
    "nan", "inf", "1-D X", "3-D X", "no rows", "no columns", "mismatched y", "object X", "complex X",
    "nan y", "bad params",
}


def _matrix(draw, shape, elements=any_float) -> np.ndarray:
    size = int(np.prod(shape))
    return np.array(draw(st.lists(elements, min_size=size, max_size=size)), dtype=np.float64).reshape(shape)


@st.composite
def problems(draw):
    """``(X, y, params, corruption)``: a valid problem with extreme values, or one corruption."""
    corruption = draw(st.sampled_from(CORRUPTIONS))
    n = 0 if corruption == "no rows" else draw(st.integers(1, 8))
    d = 0 if corruption == "no columns" else draw(st.integers(1, 4))
    shape = {"1-D X": (n,), "3-D X": (n, d, 2)}.get(corruption, (n, d))
    X = _matrix(draw, shape)
    y = _matrix(draw, (n,), st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(-1e300, 1e300)))
    if draw(st.booleans()):
        y = _matrix(draw, (n, draw(st.integers(1, 3))))  # multi-output (classifiers reject it)
    if corruption in ("nan", "inf") and X.size:
        X.flat[draw(st.integers(0, X.size - 1))] = np.nan if corruption == "nan" else -np.inf
    elif corruption == "mismatched y":
        y = np.resize(y, (n + draw(st.sampled_from([-1, 1, 5])),) + y.shape[1:])
    elif corruption == "string X":
        X = np.full(shape, draw(st.sampled_from(["a", "1.5", "", "nan"])))
    elif corruption == "object X" and X.size:
        X = X.astype(object)
        X.flat[0] = draw(st.sampled_from(["x", None, [1], {}]))
    elif corruption == "complex X":
        X = X.astype(complex) + 1j
    elif corruption in ("int8 X", "bool X"):
        X = np.nan_to_num(X).clip(-100, 100).astype(np.int8 if corruption == "int8 X" else bool)
    elif corruption == "string y":
        y = np.full(y.shape, draw(st.sampled_from(["a", "b", "2"])))
    elif corruption == "nan y" and y.size:
        y.flat[0] = np.nan
    params = {"dtype": draw(st.sampled_from(["float64", "float32"]))}
    if corruption == "bad params":
        name, value = draw(
            st.sampled_from(
                [("alpha", np.nan), ("alpha", "1"), ("alpha", None), ("alpha", -1), ("alpha", 0),
                 ("batch_size", 0), ("batch_size", 2.5), ("dtype", "float16"), ("dtype", None),
                 ("device", "gpu7"), ("kernel", "rbf")]
            )
        )
        params[name] = value
    return X, y, params, corruption


def _assert_clean_error(exc: Exception) -> None:
    assert isinstance(exc, ValueError | TypeError), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@SETTINGS
@given(problem=problems())
def test_fit_predict_fail_cleanly_or_give_finite_output(name, problem):
    X, y, params, corruption = problem
    cls = ESTIMATORS[name]
    if name.startswith("RandomFeature"):
        params = {**params, "n_features": 5}
    if name == "RandomFeatureRidgeCV" and "alpha" in params:
        params["alphas"] = [params.pop("alpha")]
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except Exception as exc:  # noqa: BLE001 - the point is to inspect every failure
            _assert_clean_error(exc)
            return
        assert corruption not in MUST_FAIL, f"fit accepted a problem with {corruption}"
        for Z in (X, np.zeros((3, X.shape[1]))):
            try:
                pred = est.predict(Z)
            except Exception as exc:  # noqa: BLE001
                _assert_clean_error(exc)
                continue
            assert pred.shape[0] == Z.shape[0]
            if pred.dtype.kind in "fc":
                assert np.all(np.isfinite(pred)), "silent NaN/inf prediction"
            if hasattr(est, "decision_function"):
                assert np.all(np.isfinite(est.decision_function(Z)))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_fitted_estimators_reject_bad_prediction_inputs(name):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = np.arange(12) % 3
    est = ESTIMATORS[name]().fit(X, y)
    for bad, error in [
        (X[:, :2], ValueError),  # wrong number of features
        (X[0], ValueError),  # 1-D
        (np.full((2, 3), np.nan), ValueError),
        (np.full((2, 3), "a"), ValueError),
        (np.zeros((0, 3)), ValueError),
        (X.astype(complex), ValueError),
    ]:
        with pytest.raises(error, match=r"\w"):
            est.predict(bad)
