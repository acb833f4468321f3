"""The honest-uncertainty model: rounds as the unit, the run's pooled variance, a series' scatter."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite.analysis.series import timed
from suite.analysis.synthetic import FrameBuilder, MachineNoise
from suite.analysis.thresholds import DEFAULT_THRESHOLDS
from suite.analysis.uncertainty import median, robust_scale, rounds_agree, t_quantile, wls_fit


@pytest.mark.parametrize("dof", [1, 2, 3, 4.5, 10, 30, 200])
@pytest.mark.parametrize("p", [0.9, 0.975, 0.995, 0.9999, 1 - 1e-6])
def test_t_quantile_matches_scipy(p, dof):
    assert t_quantile(p, dof) == pytest.approx(stats.t.ppf(p, dof), rel=1e-3)
    assert t_quantile(1 - p, dof) == pytest.approx(-t_quantile(p, dof))


def test_v1_rows_per_round_become_one_point_with_its_rounds():
    b = FrameBuilder(0, rounds=1, noise=MachineNoise(sample_rel=0.01))
    b.add("cpu", "s", "conv2d", {"cin": 8, "cout": 8, "kernel": 3, "resolution": 8}, "fp32", 1.0)
    one = b.frame().drop(columns=["round_median_ms", "round_n", "rounds"])  # a v1 row: one round each
    rows = pd.concat([one.assign(median_ms=m, round=r) for r, m in enumerate([1.00, 1.02, 1.30])], ignore_index=True)
    [point] = [r for _, r in timed(rows).iterrows()]
    assert point["_n_rounds"] == 3 and list(point["_rounds"]) == [1.00, 1.02, 1.30]
    assert point["median_ms"] == pytest.approx(1.02)  # the median of the round medians


def _one_run(rounds_of_point, others=40, seed=0):
    """A run whose points agree to ~0.5 % between rounds, plus one point with the given rounds."""
    rng = np.random.default_rng(seed)
    b = FrameBuilder(seed, rounds=3, noise=MachineNoise(sample_rel=0.01, round_rel=0.005))
    for cin in range(8, 8 + 8 * others, 8):
        b.add("cpu", "s", "conv2d", {"cin": cin, "cout": 8, "kernel": 3, "resolution": 8}, "fp32", 1.0)
    b.add("cpu", "s", "conv2d", {"cin": 4, "cout": 8, "kernel": 3, "resolution": 8}, "fp32", 1.0)
    df = b.frame()
    df.at[len(df) - 1, "round_median_ms"] = list(rounds_of_point)
    df.at[len(df) - 1, "median_ms"] = float(np.median(rounds_of_point))
    assert rng is not None
    return timed(df)


def test_a_point_borrows_the_runs_between_round_variance_but_keeps_its_own_disagreement():
    t = _one_run([1.0, 1.003, 0.998])
    typical = t["_sigma"].median()
    assert 0.001 < typical < 0.01  # rounds 0.5 % apart: a headline good to a fraction of that
    agreeing = t.loc[t["cin"] == 4, "_sigma"].item()
    assert agreeing == pytest.approx(typical, rel=0.5)  # three lucky rounds do not make it exact
    disagreeing = _one_run([1.0, 1.08, 0.93]).query("cin == 4")["_sigma"].item()
    assert disagreeing > 5 * typical


def test_one_slow_round_barely_widens_but_one_fast_round_does():
    # interference only slows a machine: a slow outlier leaves the median of three sound,
    # a fast outlier means most rounds ran slow and the median is the suspect
    slow = _one_run([1.0, 1.002, 1.4]).query("cin == 4")["_sigma"].item()
    fast = _one_run([0.7, 1.0, 1.002]).query("cin == 4")["_sigma"].item()
    assert fast > 3 * slow


def test_a_run_of_one_round_assumes_the_stated_round_noise():
    b = FrameBuilder(0, rounds=1, noise=MachineNoise(sample_rel=0.001))
    b.add("cpu", "s", "conv2d", {"cin": 8, "cout": 8, "kernel": 3, "resolution": 8}, "fp32", 1.0)
    [point] = [r for _, r in timed(b.frame()).iterrows()]
    assert point["_sigma"] == pytest.approx(DEFAULT_THRESHOLDS.assumed_round_noise_rel)


def test_emulated_timings_never_reach_a_latency_detector():
    b = FrameBuilder(0, rounds=3)
    b.add("htp", "s", "conv2d", {"cin": 8, "cout": 8, "kernel": 3, "resolution": 8}, "int8", 40.0)
    df = b.frame()
    assert len(timed(df)) == 1
    assert timed(df.assign(timing="emulated")).empty


def test_paule_mandel_recovers_the_extra_scatter_of_a_series():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 1, 400)
    truth = 1.0 + 2.0 * x
    y = truth * np.exp(0.03 * rng.standard_normal(x.size))  # 3 % scatter no per-point interval shows
    fit = wls_fit(np.column_stack([np.ones_like(x), x]), y, np.full(x.size, 0.01**2), robust=False)
    assert np.sqrt(fit.tau2 + 0.01**2) == pytest.approx(0.03, rel=0.15)
    assert fit.beta[1] == pytest.approx(2.0, rel=0.05)
    # within the stated per-point noise: no extra scatter
    quiet = truth * np.exp(0.005 * rng.standard_normal(x.size))
    assert wls_fit(np.column_stack([np.ones_like(x), x]), quiet, np.full(x.size, 0.01**2)).tau2 == 0.0


def test_rounds_agree_pairs_rounds_by_index():
    assert rounds_agree([1.2, 1.25, 1.22], [1.0, 1.0, 1.01], 0.1)
    assert not rounds_agree([1.2, 1.02, 1.22], [1.0, 1.0, 1.01], 0.1)  # one round shows no effect
    assert rounds_agree([1.2], [1.0, 1.1], 0.5)  # a single round cannot disagree


def test_the_short_array_median_is_numpys_to_the_bit():
    rng = np.random.default_rng(11)
    for n in range(1, 40):
        values = rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5, n)
        assert median(values) == float(np.median(values))
        assert robust_scale(values) == 1.4826 * float(np.median(np.abs(values - np.median(values))))
    assert np.isnan(median(np.array([1.0, np.nan, 2.0]))) and np.isnan(median(np.empty(0)))
