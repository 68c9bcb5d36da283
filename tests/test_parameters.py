"""The parameter base: keyword-only parameters, the deprecated positional calls, one constraints
table per estimator validated once per fit, shared docstrings."""

import inspect
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import levrf
from levrf.features import RANDOM_FEATURE_CONSTRAINTS

RIDGE_ESTIMATORS = [levrf.RandomFeatureRidge, levrf.RandomFeatureRidgeClassifier, levrf.RandomFeatureRidgeCV,
                    levrf.KernelRidge, levrf.KernelRidgeClassifier]
ALL_ESTIMATORS = [levrf.RandomFeatures, *RIDGE_ESTIMATORS]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    return X, np.sin(X[:, 0]), (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("cls", ALL_ESTIMATORS)
def test_only_kernel_is_positional(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert params[0].name == "kernel" and params[0].kind == params[0].POSITIONAL_OR_KEYWORD
    assert all(p.kind == p.KEYWORD_ONLY for p in params[1:])


def test_old_positional_calls_warn_and_bind_in_the_old_order():
    kernel = levrf.GaussianKernel(2.0)
    with pytest.warns(FutureWarning, match=r"n_features, sampling.*positionally to RandomFeatures\(\)"):
        rf = levrf.RandomFeatures(kernel, 7, "qmc")
    assert (rf.kernel, rf.n_features, rf.sampling) == (kernel, 7, "qmc")
    with pytest.warns(FutureWarning, match="n_features, sampling, alpha"):
        ridge = levrf.RandomFeatureRidge(kernel, 9, "gaussian", 0.5)
    assert (ridge.n_features, ridge.alpha) == (9, 0.5)
    with pytest.warns(FutureWarning, match="alpha"):
        assert levrf.KernelRidge(kernel, 0.25).alpha == 0.25


def test_cv_old_alphas_first_call_is_understood():
    kernel = levrf.GaussianKernel(2.0)
    with pytest.warns(FutureWarning, match=r"alphas, kernel, n_features positionally"):
        cv = levrf.RandomFeatureRidgeCV((0.5, 5.0), kernel, 30)
    assert cv.alphas == (0.5, 5.0) and cv.kernel is kernel and cv.n_features == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new call (kernel first) does not warn
        cv = levrf.RandomFeatureRidgeCV(kernel, alphas=(1.0,))
    assert cv.kernel is kernel and cv.alphas == (1.0,)


def test_positional_and_keyword_for_one_argument_is_refused():
    with pytest.raises(TypeError, match="multiple values"):
        levrf.RandomFeatures(None, 5, n_features=6)


def test_clone_and_get_params_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in ALL_ESTIMATORS:
            est = cls(levrf.GaussianKernel(1.5))
            assert clone(est).get_params() == est.get_params()


@pytest.mark.parametrize("cls", [levrf.RandomFeatures, levrf.RandomFeatureRidge, levrf.RandomFeatureRidgeCV])
def test_random_feature_table_is_shared(cls):
    table = cls._parameter_constraints
    for name, constraint in RANDOM_FEATURE_CONSTRAINTS.items():
        if name != "alpha" or "alpha" in table:
            assert table[name] is constraint  # the same objects, written once
    assert set(table) == set(cls().get_params())


@pytest.mark.parametrize("cls", [levrf.KernelRidge, levrf.RandomFeatureRidgeClassifier])
def test_every_parameter_is_in_the_table(cls):
    assert set(cls._parameter_constraints) == set(cls().get_params())


BAD = [
    ("n_features", 0, ValueError, "n_features must be an integer >= 1, got 0"),
    ("n_features", 2.5, TypeError, "n_features must be an integer >= 1, got 2.5"),
    ("alpha", -1.0, ValueError, "alpha must be a finite number > 0, got -1.0"),
    ("alpha", "1", TypeError, "alpha must be a finite number > 0, got '1'"),
    ("batch_size", 0, ValueError, "batch_size must be an integer >= 1, got 0"),
    ("batch_size", "big", TypeError, "batch_size must be None or an integer >= 1, got 'big'"),
    ("pool_size", -3, ValueError, "pool_size must be an integer >= 1, got -3"),
    ("sampling_alpha", "manual", ValueError, "sampling_alpha must be one of 'auto'"),
    ("sampling_alpha", 0.0, ValueError, "sampling_alpha must be a finite number > 0"),
    ("leverage_method", "magic", ValueError, "leverage_method must be one of 'auto', 'exact'"),
    ("sampling", "uniform", ValueError, "sampling must be one of"),
    ("dtype", "float16", ValueError, "dtype must be 'float64' or 'float32'"),
    ("device", "tpu", ValueError, "device"),
    ("random_state", -1, ValueError, "random_state must be an int in"),
    ("random_state", "seed", TypeError, "random_state must be None, an int"),
    ("kernel", "rbf", TypeError, "kernel must be a levrf kernel"),
    ("fit_intercept", "yes", TypeError, "fit_intercept must be True or False, got 'yes'"),
    ("gram_dtype", "half", ValueError, "gram_dtype must be 'float64' or 'float32'"),
    ("refine_tol", 0.0, ValueError, "refine_tol must be a finite number > 0, got 0.0"),
]


@pytest.mark.parametrize("name,value,error,message", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_parameters_are_named_in_fit(name, value, error, message, data):
    X, y, _ = data
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        levrf.RandomFeatureRidge(**{name: value}).fit(X, y)


@pytest.mark.parametrize("params,error,message", [
    ({"alphas": [1.0, -2.0]}, ValueError, "alphas must all be finite and > 0"),
    ({"alphas": "1"}, TypeError, "alphas must be a sequence"),
    ({"cv": 1}, ValueError, "cv must be"),
    ({"cv": "five"}, TypeError, "cv must be"),
    ({"gcv": 1}, TypeError, "gcv must be True or False"),
    ({"cv": 3, "gcv": True}, ValueError, "need cv=None"),
])
def test_bad_cv_parameters(params, error, message, data):
    X, y, _ = data
    with pytest.raises(error, match=message):
        levrf.RandomFeatureRidgeCV(**params).fit(X, y)


@pytest.mark.parametrize("cls", ALL_ESTIMATORS)
def test_parameters_are_validated_once_per_fit(cls, data, monkeypatch):
    X, y, labels = data
    calls = []
    from levrf import _validation

    real = _validation.validate_parameters

    def counting(est, constraints=None):
        calls.append(type(est).__name__)
        return real(est, constraints)

    monkeypatch.setattr(_validation, "validate_parameters", counting)
    target = labels if "Classifier" in cls.__name__ else y
    cls(levrf.GaussianKernel(1.0)).fit(X, target)
    assert calls.count(cls.__name__) == 1


@pytest.mark.parametrize("cls", ALL_ESTIMATORS)
def test_check_params_is_the_table_validation(cls):
    """The model-file loader calls ``_check_params``: it runs the same table."""
    est = cls()
    est._check_params()
    est.batch_size = 0
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        est._check_params()


@pytest.mark.parametrize("cls", ALL_ESTIMATORS)
def test_shared_docstrings_are_spliced(cls):
    doc = cls.__doc__
    assert "{" + "random_state}" not in doc and "{" + "batch_size}" not in doc
    assert "batch_size : int, optional" in doc
