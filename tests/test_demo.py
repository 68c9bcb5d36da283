"""`levrf demo` (what `make demo` runs): its report, figures and plausible numbers."""

import json

import numpy as np
import pytest

from levrf.report import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    run_demo(out, quiet=True)
    return out, json.loads((out / "results.json").read_text())


def test_report_files_exist(demo):
    out, results = demo
    report = (out / "report.md").read_text()
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 3
    for png in pngs:
        assert png.stat().st_size > 10_000
        assert f"]({png.name})" in report  # every figure is embedded in the report
    assert {"approx", "krr", "leverage_profile", "equivalence"} <= set(results)


def test_spectral_error_values_are_plausible(demo):
    _, results = demo
    approx = results["approx"]
    med = {s: np.median(np.asarray(approx["epsilon"][s]), axis=1) for s in approx["samplers"]}
    for s, eps in med.items():
        assert np.all(eps > 0) and np.all(np.isfinite(eps))
        assert eps[-1] < eps[0], s  # 16× more features: smaller ε
    assert np.all(med["leverage"] < med["gaussian"])  # on the default dataset leverage wins at every m
    assert 0 < approx["statistical_dimension"] < approx["n"]


def test_krr_values_are_plausible(demo):
    _, results = demo
    krr = results["krr"]
    assert 0 < krr["exact_rmse"] < 1  # standardized target: better than predicting the mean
    for method in krr["methods"]:
        rmse = np.median(np.asarray(krr["rmse"][method]), axis=1)
        assert rmse[-1] < rmse[0], method
        assert rmse.min() > 0.9 * krr["exact_rmse"], method  # nothing beats exact KRR by much


def test_leverage_profile_mean_matches_statistical_dimension(demo):
    _, results = demo
    prof = results["leverage_profile"]
    tau = np.asarray(prof["tau"])
    se = tau.std(ddof=1) / np.sqrt(tau.size)
    assert abs(tau.mean() - prof["statistical_dimension"]) <= 4 * se
    assert prof["coherence"] >= 1.0


def test_equivalence_gap_shrinks_with_width(demo):
    _, results = demo
    eq = results["equivalence"]
    for init in ("gaussian", "leverage"):
        # penalty toward W(0), at convergence: the gap to NTK ridge shrinks with the width
        gaps = np.median(np.asarray(eq["metrics"]["train_gap"]["init"][init], dtype=float), axis=-1)
        assert gaps[-1] < gaps[0] and np.all(gaps < 0.5), (init, gaps)
        eps = np.median(np.asarray(eq["metrics"]["spectral_error"]["init"][init], dtype=float), axis=-1)
        assert eps[-1] < eps[0], (init, eps)
