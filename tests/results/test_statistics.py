"""Summary statistics: the median CI from order statistics and pyperf's instability rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from suite.results.statistics import median_ci_ranks, summarize


def coverage(n: int, lo: int, hi: int) -> float:
    # P(lo < B <= hi) for B ~ Bin(n, 1/2), with 0-based ranks
    return sum(math.comb(n, k) for k in range(lo + 1, hi + 1)) / 2**n


@pytest.mark.parametrize("n", [6, 10, 20, 50, 100, 300])
def test_median_ci_reaches_95_percent_with_the_tightest_ranks(n):
    lo, hi = median_ci_ranks(n)
    assert coverage(n, lo, hi) >= 0.95
    assert coverage(n, lo + 1, hi - 1) < 0.95  # one rank tighter would not cover


def test_known_ranks_for_ten_samples():
    assert median_ci_ranks(10) == (1, 8)


def test_large_n_uses_normal_approximation_close_to_exact():
    lo, hi = median_ci_ranks(1000)
    assert abs(lo - (500 - 1.96 * math.sqrt(1000) / 2)) <= 2
    assert hi == 1000 - 1 - lo


def test_summary_values():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["n"] == 5 and s["median_ms"] == 3.0 and s["min_ms"] == 1.0 and s["max_ms"] == 100.0
    assert s["ci_low_ms"] == 1.0 and s["ci_high_ms"] == 100.0  # n=5: min..max
    assert s["unstable"]


def test_stable_series_is_not_flagged():
    rng = np.random.default_rng(0)
    s = summarize(1.0 + 0.01 * rng.standard_normal(200))
    assert not s["unstable"]
    assert s["ci_low_ms"] <= s["median_ms"] <= s["ci_high_ms"]
    assert s["p10_ms"] < s["median_ms"] < s["p90_ms"]


def test_empty_samples_are_an_error_not_zero():
    with pytest.raises(ValueError, match="not 0 ms"):
        summarize([])


def test_a_few_scheduler_spikes_do_not_make_a_tight_series_unstable():
    rng = np.random.default_rng(1)
    samples = 1.0 + 0.01 * rng.standard_normal(1000)
    samples[::200] = 5.0  # five preemptions: max is 5x the median
    s = summarize(samples)
    assert s["max_ms"] == 5.0 and not s["unstable"]


def test_a_wide_series_is_unstable():
    rng = np.random.default_rng(2)
    assert summarize(1.0 + 0.3 * rng.standard_normal(500))["unstable"]
    assert summarize(np.r_[np.full(50, 1.0), np.full(50, 2.0)])["unstable"]  # bimodal
