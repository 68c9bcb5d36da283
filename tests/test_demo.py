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


# ----------------------------------------------------------------------------- the report's words
def test_describe_change_says_fell_exactly_when_the_numbers_fell():
    from levrf.report import describe_change

    rng = np.random.default_rng(0)
    pairs = [(0.216, 0.195), (0.2, 0.25), (0.3, 0.3), *rng.uniform(0.01, 1.0, size=(50, 2))]
    for start, end in pairs:
        text = describe_change("the gap", float(start), float(end), "16× width")
        assert ("fell" in text) == (end < start), text
        assert ("did not shrink" in text) == (end > start), text
        if end < start:  # the percentage written is the relative drop, to the shown precision
            pct = float(text.split("(−")[1].split("%")[0])
            assert abs(pct - 100 * (start - end) / start) <= 0.5, text
    # the tester's case: a 10% drop over 16× width is reported with its size, not as "shrinks"
    assert "fell from 0.216 to 0.195 (−10%) over 16× width" in describe_change("the gap", 0.216, 0.195, "16× width")


def _sentence(report: str, section: str) -> str:
    body = report.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return body.split("**What it shows.**", 1)[1]


def test_report_sentences_agree_with_results(demo):
    from levrf.report import fmt

    out, results = demo
    report = (out / "report.md").read_text()
    eq = results["equivalence"]
    text = _sentence(report, "equivalence")
    for regime, info in eq["regimes"].items():
        anchor = "toward W(0)" if info["penalty"] == "init" else "toward 0 (the paper's)"
        for init in eq["inits"]:
            gaps = np.median(np.asarray(eq["metrics"]["train_gap"][regime][init], dtype=float), axis=-1)
            clause = text.split(f"penalty {anchor} and {init} init, the median train gap ", 1)[1].split(";")[0]
            verb = "fell" if gaps[-1] < gaps[0] else "did not shrink"
            assert clause.startswith(verb), clause
            assert f"{fmt(gaps[0])} to {fmt(gaps[-1])}" in clause, clause
            assert ("no width reached" in clause) == bool(np.all(gaps > eq["threshold"])), clause

    approx = results["approx"]
    text = _sentence(report, "approx")
    med = {s: np.median(np.asarray(approx["epsilon"][s]), axis=1) for s in approx["samplers"]}
    wins = int(np.sum(med["leverage"] < med["gaussian"]))
    assert f"smaller median ε at {wins} of {len(med['gaussian'])} values of m" in text
    for s, values in med.items():
        clause = text.split(f"the {s} median ", 1)[1].split("; the ")[0]
        assert ("not monotonically" in clause) == bool(np.any(np.diff(values) > 0)), clause

    krr = results["krr"]
    text = _sentence(report, "krr")
    choices = krr["sampling_choice"]["levrf leverage"]
    from_p = [2 * m for m, c in zip(krr["features"], choices, strict=True) if c["source"].startswith("p")]
    assert f"at D = {', '.join(map(str, from_p))} it sampled from p" in text


def test_krr_records_what_the_auto_rule_did(demo):
    _, results = demo
    krr = results["krr"]
    choices = krr["sampling_choice"]["levrf leverage"]
    s = choices[0]["statistical_dimension"]  # exact s_α: below the switch no pool is drawn
    for i, (m, choice) in enumerate(zip(krr["features"], choices, strict=True)):
        # the rule of levrf.leverage.auto: p below m = 2·s_α, the half-half mixture above
        assert choice["source"].startswith("p") == (m < 2 * s), (m, s, choice)
        if choice["source"] == "p (i.i.d.)":  # the Gaussian sampler's own draw: identical fits
            np.testing.assert_allclose(krr["rmse"]["levrf leverage"][i], krr["rmse"]["levrf gaussian"][i],
                                       rtol=1e-12, atol=0)
        else:
            assert choice["mixture"] in (0.5, 1.0)
    assert any(not c["source"].startswith("p") for c in choices)  # the demo shows both branches


def test_quick_equivalence_stays_within_its_work_budget(demo):
    # the slow demo (22 min) ran 9,440 GD steps at widths up to 1,024 on 300 rows; the work of one
    # step is ~ n·width, so the budget of the quick demo is written in neuron-row-steps
    _, results = demo
    eq = results["equivalence"]
    work = sum(info["steps"] for info in eq["regimes"].values()) * sum(eq["widths"]) * eq["n"] * len(eq["inits"])
    assert work <= 1.5e9, work


# ----------------------------------------------------------------------------- Theorem 3.3's range
def test_approx_quotes_theorem_3_3_only_for_epsilon_below_one_half():
    import math

    from levrf.experiments import ApproxResult

    s, delta = 70.0, 0.1
    big = int(math.ceil(8 / 3 / 0.2**2 * s * math.log(16 * s * s / delta)))  # the bound's m at ε = 0.2
    result = ApproxResult(dataset="d", kernel="gaussian:bandwidth=1", alpha=0.01, n=100, features=[100, big],
                          samplers=[], seeds=1, epsilon={}, statistical_dimension=s, delta=delta)
    small_m, large_m = result.certified_epsilon()
    assert small_m is None  # the inverse is ≈ 5.6 here: outside the theorem's ε ∈ (0, 1/2)
    assert 0.2 - 1e-6 <= large_m <= 0.2  # m = bound(0.2) certifies ε = 0.2 (m rounded up)
    assert result.bound_features(0.2) == big
    for eps in (0.5, 0.7):
        with pytest.raises(ValueError, match="epsilon"):
            result.bound_features(eps)


# ----------------------------------------------------------------------------- the demo's machinery
class _Recorder:
    def __init__(self, seen):
        self.seen = seen

    def save(self, out, name):
        (out / f"{name}.png").write_bytes(b"png")
        return {"png": out / f"{name}.png"}

    def to_dict(self):
        return {"threads": self.seen}


def test_run_demo_runs_on_one_thread_and_restores_the_count(tmp_path, monkeypatch):
    import torch
    from threadpoolctl import threadpool_info

    import levrf.report as report

    def fake(quiet, **settings):
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        return _Recorder({"torch": torch.get_num_threads(), "blas": blas})

    monkeypatch.setattr(report, "EXPERIMENTS", {"fake": fake})
    monkeypatch.setattr(report, "DEMO_SETTINGS", {"fake": {}})
    before = torch.get_num_threads()
    report.run_demo(tmp_path, quiet=True)
    seen = json.loads((tmp_path / "results.json").read_text())["fake"]["threads"]
    assert seen["torch"] == 1 and all(t == 1 for t in seen["blas"]), seen
    assert torch.get_num_threads() == before
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_run_demo_validates_its_arguments(tmp_path):
    with pytest.raises(TypeError, match="out"):
        run_demo(123)
    with pytest.raises(TypeError, match="full"):
        run_demo(tmp_path, full="yes")
