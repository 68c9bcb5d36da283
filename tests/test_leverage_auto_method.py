"""leverage_method="auto": exact only within the n × n budget, a row subsample above (issue 18)."""

import numpy as np
import pytest
import torch

import levrf
from levrf.leverage.approximate import SubsampleLeverage
from levrf.leverage.auto import pilot_rows
from levrf.leverage.methods import choose_leverage_method, exact_matrix_bytes, max_exact_rows

N = 60


class NoSquareKernel(levrf.GaussianKernel):
    """A Gaussian kernel that refuses to build any matrix with N rows and N columns."""

    def _exact(self, A, B):
        if A.shape[0] >= N and B.shape[0] >= N:
            raise AssertionError(f"an {A.shape[0]} x {B.shape[0]} kernel matrix was formed")
        return super()._exact(A, B)


@pytest.fixture
def X(rng):
    return rng.standard_normal((N, 3))


def test_choice_is_exact_exactly_where_the_matrix_fits_the_budget():
    # default budget 32 MiB: 8·2048² bytes is exactly 32 MiB
    assert exact_matrix_bytes(2048) == levrf.get_config()["leverage_exact_bytes"]
    assert choose_leverage_method(2048) == "exact"
    assert choose_leverage_method(2049) == "approximate"
    assert choose_leverage_method(22_000) == "approximate"
    assert choose_leverage_method(10, in_memory=False) == "approximate"  # Dask rows
    for n in (1, 7, 100, 101):
        assert choose_leverage_method(n, budget_bytes=8 * 100**2) == ("exact" if n <= 100 else "approximate")
    with levrf.config_context(leverage_exact_bytes=8 * 50**2 + 7):
        assert max_exact_rows() == 50
        assert choose_leverage_method(50) == "exact" and choose_leverage_method(51) == "approximate"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": 2.5}, TypeError, "n_samples"),
        ({"n_samples": 10, "in_memory": "yes"}, TypeError, "in_memory"),
        ({"n_samples": 10, "budget_bytes": 0}, ValueError, "budget_bytes"),
    ],
)
def test_choice_validates_its_inputs(kwargs, error, match):
    n = kwargs.pop("n_samples")
    with pytest.raises(error, match=match):
        choose_leverage_method(n, **kwargs)


def test_pilot_rows():
    assert pilot_rows(100, 64) == 100
    assert pilot_rows(10**6, 64) == 512
    assert pilot_rows(10**6, 1024) == 2048
    assert pilot_rows(10**6, 1024, max_rows=300) == 300
    with pytest.raises(ValueError, match="max_rows"):
        pilot_rows(10, 2, max_rows=0)


def test_default_is_auto_everywhere():
    for est in (levrf.RandomFeatures(), levrf.RandomFeatureRidge(), levrf.RandomFeatureRidgeCV(),
                levrf.RandomFeatureRidgeClassifier()):
        assert est.get_params()["leverage_method"] == "auto"


@pytest.mark.parametrize("alpha", [1e-3, 50.0], ids=["rule_samples_from_p", "rule_resamples"])
def test_above_the_budget_no_n_by_n_matrix_is_formed(X, alpha):
    """The defect: with the default method every leverage fit factored the n × n matrix."""
    kernel = NoSquareKernel(1.0)
    with levrf.config_context(leverage_exact_bytes=8 * 30**2):
        rf = levrf.RandomFeatures(kernel, n_features=16, sampling="leverage", alpha=alpha, random_state=0).fit(X)
        with pytest.raises(ValueError, match="leverage_exact_bytes"):
            levrf.RandomFeatures(kernel, n_features=16, sampling="leverage", alpha=alpha,
                                 leverage_method="exact", random_state=0).fit(X)
        with pytest.raises(ValueError, match="leverage_exact_bytes"):
            levrf.RandomFeatures(kernel, n_features=16, sampling="rejection", alpha=alpha, random_state=0).fit(X)
        with pytest.raises(ValueError, match="leverage_exact_bytes"):
            levrf.ridge_leverage(kernel, X, kernel.sample(4, 3, 0), alpha, method="exact")
    assert rf.sampling_info_["method"] == "approximate"
    assert rf.mixture_ == (1.0 if alpha < 1 else 0.5)  # both branches of the rule were taken
    # a fit with the same settings but an unconstrained kernel is a valid fit (finite ψ, weights)
    assert torch.isfinite(rf.weights_).all() and torch.isfinite(rf.importance_).all()


def test_within_the_budget_auto_is_exact(X):
    kernel = levrf.GaussianKernel(0.7)
    rf = levrf.RandomFeatures(kernel, n_features=8, sampling="leverage", alpha=1e-3, random_state=1).fit(X)
    s = levrf.statistical_dimension(kernel(X), 1e-3)
    assert rf.sampling_info_["method"] == "exact"
    assert rf.statistical_dimension_ == pytest.approx(s, rel=1e-9)


def test_pilot_with_every_row_gives_the_exact_statistical_dimension(X):
    """Above the budget the rule's s_α is the pilot's; a pilot of all n rows is the exact s_α."""
    kernel = levrf.GaussianKernel(0.7)
    s = levrf.statistical_dimension(kernel(X), 1e-3)
    with levrf.config_context(leverage_exact_bytes=8 * N**2 - 1):  # n = 60 is just above the budget
        assert max_exact_rows() == N - 1
        rf = levrf.RandomFeatures(kernel, n_features=8, sampling="leverage", alpha=1e-3, random_state=1).fit(X)
    assert rf.sampling_info_["statistical_dimension_rows"] == N - 1
    # the same 59 rows, scored independently: s from the eigenvalues of their kernel matrix
    gen = torch.Generator().manual_seed(0)
    rows = torch.randperm(N, generator=gen)[: N - 1].sort().values
    eig = torch.linalg.eigvalsh(kernel(X[rows.numpy()]).to(torch.float64)) * (N / (N - 1))
    assert 0 < rf.statistical_dimension_ <= N - 1
    assert rf.statistical_dimension_ == pytest.approx(s, rel=0.1)  # one row fewer than all
    sub = SubsampleLeverage(kernel, torch.as_tensor(X), 1e-3, rows=rows)
    expected = float((eig / (eig + 1e-3)).sum())
    assert sub.statistical_dimension() == pytest.approx(expected, rel=1e-8)
    assert sub.statistical_dimension(0.1) == pytest.approx(float((eig / (eig + 0.1)).sum()), rel=1e-8)


def test_subsample_statistical_dimension_needs_no_eigendecomposition(X, monkeypatch):
    kernel = levrf.GaussianKernel(1.0)
    sub = SubsampleLeverage(kernel, torch.as_tensor(X), 0.05, rank=40, generator=torch.Generator().manual_seed(2))
    eig = sub.eigenvalues().numpy()
    expected = float((eig / (eig + 0.05)).sum())
    fresh = SubsampleLeverage(kernel, torch.as_tensor(X), 0.05, rank=40, generator=torch.Generator().manual_seed(2))

    def refuse(*args, **kwargs):
        raise AssertionError("eigvalsh called")

    monkeypatch.setattr(torch.linalg, "eigvalsh", refuse)
    assert fresh.statistical_dimension() == pytest.approx(expected, rel=1e-8)


def test_auto_weights_below_the_switch_are_those_of_sampling_from_p(X):
    """Where the rule samples from p, the pilot's draws of rows do not move the weights."""
    kernel = levrf.GaussianKernel(0.7)
    with levrf.config_context(leverage_exact_bytes=8 * 20**2):
        rf = levrf.RandomFeatures(kernel, n_features=4, sampling="leverage", alpha=1e-3, random_state=5).fit(X)
    assert rf.mixture_ == 1.0 and rf.sampling_info_["method"] == "approximate"
    sampling = "qmc" if "quasi" in rf.sampling_info_["p_sequence"] else "gaussian"
    plain = levrf.RandomFeatures(kernel, n_features=4, sampling=sampling, random_state=5).fit(X)
    np.testing.assert_array_equal(rf.weights_.numpy(), plain.weights_.numpy())
