import itertools

import numpy as np
import pytest

from suite.analysis.series import iter_axis_series, timed
from suite.analysis.steps import find_staircases, find_steps, solve_potts_l1, staircase_frame, step_period
from suite.analysis.synthetic import FrameBuilder, add_axis_series, noise_frame, staircase_latency


def brute_force_potts(y, w, gamma):
    n = len(y)
    best, best_ends = np.inf, None
    for k in range(n):
        for cuts in itertools.combinations(range(1, n), k):
            ends = [*cuts, n]
            cost, start = 0.0, 0
            for end in ends:
                seg, sw = y[start:end], w[start:end]
                cost += gamma + min(np.sum(sw * np.abs(seg - m)) for m in seg)
                start = end
            if cost < best - 1e-12:
                best, best_ends = cost, ends
    return best_ends


@pytest.mark.parametrize("seed", range(5))
def test_potts_dp_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(4), np.ones(3) * 2, np.ones(3)] + 0.3 * rng.standard_normal(10)
    w = rng.uniform(0.5, 2.0, 10)
    for gamma in (0.1, 1.0, 3.0):
        assert solve_potts_l1(y, w, gamma) == brute_force_potts(y, w, gamma)


def staircase_frame_of(values, period=16, step_rel=0.38, noise_rel=0.01, seed=0):
    b = FrameBuilder(seed, noise_rel=noise_rel)
    add_axis_series(b, "rk3588-npu", "channels", "cout", values, staircase_latency(values, period, step_rel))
    return b.frame()


@pytest.mark.parametrize("values", [list(range(1, 65)), list(range(4, 68, 4)), list(range(8, 72, 8))])
def test_planted_period_16_is_found_at_the_right_steps(values):
    df = staircase_frame_of(values)
    [anomaly] = find_staircases(df)
    assert anomaly.finding == "F1" and anomaly.axis == "cout" and anomaly.device == "rk3588-npu"
    assert anomaly.at == "16,32,48"
    ev = anomaly.evidence
    assert ev["period"] == 16
    for step in ev["steps"]:
        assert step["costs_more"] == pytest.approx(0.38, abs=0.05)
        assert step["saving"] == pytest.approx(0.38 / 1.38, abs=0.04)
    assert anomaly.magnitude == pytest.approx(0.38, abs=0.05)
    assert "steps of 16 output channels" in anomaly.message
    step = min(values[i] for i in range(len(values)) if values[i] > 16)
    assert f"{step} costs" in anomaly.message and "more than 16" in anomaly.message


def test_irregular_steps_have_no_period():
    values = list(range(1, 41))
    lat = np.where(np.array(values) > 10, 1.5, 1.0) * np.where(np.array(values) > 27, 1.3, 1.0)
    b = FrameBuilder(1, noise_rel=0.01)
    add_axis_series(b, "dev", "s", "cout", values, lat)
    [stair] = staircase_frame(b.frame()).itertuples()
    assert stair.steps_at == "10,27" and np.isnan(stair.period)


def test_smooth_ramp_is_not_a_staircase():
    values = list(range(4, 132, 4))
    b = FrameBuilder(2, noise_rel=0.005)
    add_axis_series(b, "cpu", "s", "cout", values, [0.1 + 0.02 * v for v in values])
    add_axis_series(b, "cpu", "s", "cout", values, [0.1 + 0.02 * v for v in values][:-1] + [3.0],
                    fixed={"cin": 64, "kernel": 3, "resolution": 28})  # one jump at the end: 1 point above
    assert find_staircases(b.frame()) == []


def test_step_period_rules():
    assert step_period([16, 32, 48]) == 16
    assert step_period([16, 48]) is None          # half the multiples missing
    assert step_period([8, 16, 24, 40]) == 8      # 4 of 5 multiples
    assert step_period([10, 27]) is None
    assert step_period([16]) is None


def test_points_without_ci_are_never_steps():
    df = staircase_frame_of(list(range(1, 65)))
    df["ci_low_ms"] = np.nan
    df["ci_high_ms"] = np.nan
    df["std_ms"] = np.nan
    series = next(iter_axis_series(timed(df), "cout"))
    assert find_steps(series) is None


# Stated false-alarm rate: fewer than 1 in 100 pure-noise series (flat or smoothly rising)
FALSE_ALARM_RATE = 0.01


@pytest.mark.parametrize("slope", [0.0, 0.02])
def test_pure_noise_false_alarm_rate(slope):
    df = noise_frame(200, n_points=16, seed=7, noise_rel=0.03, slope=slope)
    alarms = staircase_frame(df)
    assert len(alarms) / 200 < FALSE_ALARM_RATE
