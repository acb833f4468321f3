"""Rounds as the unit of replication: headline, between-round interval, noise floor (planted data)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from suite.results.statistics import (
    log_variance,
    median_se_factor,
    noise_floor,
    pooled_log_variance,
    round_estimate,
    t_cdf,
    t_quantile,
    within_half_log,
)


@pytest.mark.parametrize("df", [1, 2, 3, 6, 12, 40])
def test_t_quantile_inverts_the_t_distribution_and_tends_to_the_normal(df):
    q = t_quantile(0.975, df)
    assert t_cdf(q, df) == pytest.approx(0.975, abs=1e-9)
    assert q > t_quantile(0.975, df + 1) > t_quantile(0.975, math.inf)  # heavier tails with fewer df
    rng = np.random.default_rng(df)
    draws = rng.standard_normal(200_000) / np.sqrt(rng.chisquare(df, 200_000) / df)
    assert np.mean(np.abs(draws) < q) == pytest.approx(0.95, abs=0.003)


@pytest.mark.parametrize("rounds", [3, 4, 5, 8])
def test_median_se_factor_matches_a_simulation(rounds):
    x = np.random.default_rng(rounds).standard_normal((300_000, rounds))
    simulated = np.median(x, axis=1).std() / x.mean(axis=1).std()
    assert median_se_factor(rounds) == pytest.approx(simulated, rel=0.01)
    assert median_se_factor(1) == median_se_factor(2) == 1.0


def planted_jobs(rng, n_jobs, rounds, sd):
    """Round medians of jobs whose true latency is 1 ms: log-normal round-to-round noise."""
    return np.exp(sd * rng.standard_normal((n_jobs, rounds)))


@pytest.mark.parametrize("rounds", [3, 5])
def test_between_round_interval_covers_the_truth_95_percent_of_the_time(rounds):
    rng = np.random.default_rng(7)
    covered = []
    for _ in range(60):  # 60 runs of 40 jobs, each run with its own noise level
        sd = rng.uniform(0.01, 0.08)
        medians = planted_jobs(rng, 40, rounds, sd)
        pooled, _ = pooled_log_variance(list(medians))
        for m in medians:
            est = round_estimate(m, within_half=0.002, pooled_var=pooled)
            covered.append(est.ci_low_ms <= 1.0 <= est.ci_high_ms)
    assert 0.93 <= np.mean(covered) <= 0.985


def test_three_rounds_give_a_usable_interval_thanks_to_the_pooled_variance():
    rng = np.random.default_rng(3)
    medians = planted_jobs(rng, 50, 3, 0.03)
    pooled, _ = pooled_log_variance(list(medians))
    alone = [round_estimate(m, 0.0) for m in medians]            # own 2 df: t = 4.30
    shrunk = [round_estimate(m, 0.0, pooled) for m in medians]   # 2 + 4 df: t = 2.45
    width = lambda ests: np.median([e.ci_high_ms / e.ci_low_ms - 1 for e in ests])  # noqa: E731
    assert width(shrunk) < 0.7 * width(alone)
    assert all(e.median_ms == float(np.median(m)) for e, m in zip(shrunk, medians))  # median of round medians


def test_one_slow_round_moves_the_headline_little_and_widens_only_its_own_interval():
    rng = np.random.default_rng(4)
    medians = list(planted_jobs(rng, 30, 3, 0.01))
    medians[0] = np.array([1.0, 1.005, 1.40])  # one round in a slow spell
    pooled, _ = pooled_log_variance(medians)
    hit = round_estimate(medians[0], 0.0, pooled)
    quiet = [round_estimate(m, 0.0, pooled) for m in medians[1:]]
    assert hit.median_ms == 1.005 and hit.spread_rel == pytest.approx(0.40 / 1.005)
    assert hit.ci_high_ms / hit.median_ms > 2 * max(e.ci_high_ms / e.median_ms for e in quiet) - 1
    assert np.median([e.ci_high_ms / e.median_ms - 1 for e in quiet]) < 0.03  # the spell does not widen the rest


def test_interval_is_never_narrower_than_the_within_burst_one():
    same = [2.0, 2.0, 2.0]
    half = within_half_log(same, [1.9, 1.9, 1.9], [2.2, 2.2, 2.2])
    est = round_estimate(same, half, pooled_var=0.0)
    assert est.ci_low_ms <= 1.9 and est.ci_high_ms == pytest.approx(2.2)  # contains every round's burst CI
    single = round_estimate([2.0], half)  # one round, no pooled value: the burst's own CI
    assert single.ci_high_ms == pytest.approx(2.2) and math.isnan(single.spread_rel) and math.isnan(single.df)


def test_noise_floor_is_the_difference_pure_noise_exceeds_only_5_percent_of_the_time():
    rng = np.random.default_rng(11)
    rounds, sd = 3, 0.03
    floors, exceed = [], []
    for _ in range(400):
        sentinel = np.exp(sd * rng.standard_normal(12))         # the sentinel, 4 times in each of 3 rounds
        floor = noise_floor(sentinel, rounds)
        a, b = (float(np.median(np.exp(sd * rng.standard_normal(rounds)))) for _ in range(2))
        floors.append(floor)
        exceed.append(abs(a / b - 1) > floor)                    # two equal points, R rounds each
    assert np.mean(exceed) <= 0.07
    floor = float(np.median(floors))
    detected = []
    for _ in range(400):  # a real difference twice the floor is resolved nearly always
        a = float(np.median(np.exp(sd * rng.standard_normal(rounds))))
        b = float(np.median((1 + 2 * floor) * np.exp(sd * rng.standard_normal(rounds))))
        detected.append(b / a - 1 > floor)
    assert np.mean(detected) >= 0.9
    assert math.isnan(noise_floor([1.0], 3)) and math.isnan(noise_floor([], 3))
    assert noise_floor(np.exp(0.06 * rng.standard_normal(12)), 3) > noise_floor(np.exp(0.01 * rng.standard_normal(12)), 3)


def test_one_spike_barely_moves_the_floor_a_long_slow_spell_raises_it():
    rng = np.random.default_rng(12)
    quiet = np.exp(0.002 * rng.standard_normal(24))
    base = noise_floor(quiet, 3)
    spike = noise_floor(np.r_[quiet, 1.10], 3)              # one sentinel measurement 10% off
    spell = noise_floor(np.r_[quiet[:16], quiet[16:] * 1.05], 3)  # the last third of the run 5% slower
    assert spike < 2 * base and spell > 0.03


@pytest.mark.parametrize("value", [0.23810399999999998, 0.067968, 0.153336, 1.0])
def test_equal_rounds_of_an_exact_model_have_a_zero_width_interval(value):
    """A deterministic estimate (the same value every round) has no spread, to the last bit."""
    rounds = [value] * 3
    assert log_variance(rounds) == 0.0  # np.var gives 7e-32 for the first value
    pooled, _ = pooled_log_variance([rounds, [2 * value] * 3])
    est = round_estimate(rounds, within_half_log(rounds, rounds, rounds), pooled)
    assert (est.ci_low_ms, est.median_ms, est.ci_high_ms, est.spread_rel) == (value, value, value, 0.0)
