"""Summary statistics of raw latency samples (the host computes them; the agent only samples).

* headline: the median; also mean, std (sample, ddof=1), min, max, p10, p90
  (linear-interpolated percentiles);
* ``ci_low_ms``/``ci_high_ms``: a distribution-free 95% confidence interval of the
  median from order statistics (binomial with p = 1/2; exact up to 300 samples, normal
  approximation above);
* ``unstable``: pyperf's rule read with robust estimators — the spread (1.4826 × MAD, a
  standard deviation for normal data) above 10% of the median, or p10 or p90 more than 50%
  away from the median. pyperf applies its rule (std > 10% of the mean, min/max > 50% off)
  to values that are each the mean of a long loop; our samples are single inferences, so
  over ~1000 of them the max is always a scheduler spike and the plain rule flagged every
  point while their interquartile range was ~2% of the median.

Rounds are the unit of replication (DESIGN.md §2). Over the ``R`` timed rounds of one job
(``m_1 … m_R``: each round's median, a fresh agent session per round):

* **headline** ``median_ms`` = the median of the round medians (robust to one slow round;
  for ``R = 3`` it is the middle round);
* **interval** ``ci_low_ms``/``ci_high_ms``: a t-interval on the log round medians,
  ``headline · exp(± t(0.975, df) · c(R) · s̃ / √R)``, where ``s̃² = (df_j·s_j² + d0·s_p²) /
  (df_j + d0)`` shrinks the job's own between-round variance ``s_j²`` of ``log m_r``
  (``df_j = R − 1``) toward the run's pooled value ``s_p²`` (the median over timed jobs of
  ``s_j²`` scaled to be median-unbiased: robust to a few jobs hit by a slow spell) with prior weight ``d0 =`` :data:`PRIOR_DF` (the moderated t of
  limma/empirical Bayes), ``df = df_j + d0``, and ``c(R)`` = :func:`median_se_factor` turns
  the standard error of a mean into that of a median of ``R`` normal values (1.16 for
  ``R = 3``, → √(π/2)). So three rounds still give a usable interval. The half-width is
  never narrower than the typical within-burst one (the median over rounds of each round's
  relative CI half-width). One round and no pooled value: the within-burst CI of that round;
* ``spread_rel`` = (max − min) / headline of the round medians (NaN with fewer than 2 rounds);
* **noise floor** (:func:`noise_floor`): from the ``m`` burst medians of the run's sentinel
  point (start, every few points and end of every round): the 95th percentile of
  ``|log(A / B)|``, where ``A`` and ``B`` are each the median of ``R`` values drawn with
  replacement from the sentinel's burst medians (a bootstrap, 20,000 pairs with a fixed seed,
  scaled by ``√(m/(m−1))``), as ``exp(q) − 1``: the smallest relative difference between two
  points, each the median of the run's ``R`` rounds, that this run resolves at 95 %
  (two-sided). Effects below it are not resolved on this run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

CI_LEVEL = 0.95
UNSTABLE_STD_RATIO = 0.10
UNSTABLE_RANGE_RATIO = 0.50

#: Prior degrees of freedom given to the run's pooled between-round variance (the shrinkage weight
#: ``d0``): with 3 rounds a job's own variance has 2 df, so the pooled value weighs twice as much.
PRIOR_DF = 4.0


def median_ci_ranks(n: int, level: float = CI_LEVEL) -> tuple[int, int]:
    """0-based ranks ``(lo, hi)`` of sorted samples bounding the median at ``level``.

    For small ``n`` where no pair of order statistics reaches ``level`` the interval is
    ``(min, max)``.
    """
    if n <= 0:
        raise ValueError("need at least one sample")
    alpha = (1.0 - level) / 2.0
    if n <= 300:
        total = 2.0**n
        cdf = 0.0
        lo = 0
        for k in range(n + 1):
            cdf += math.comb(n, k) / total
            if cdf > alpha:
                break
            lo = k + 1
        # P(B < lo) <= alpha: the lo-th order statistic (1-based) is the lower bound
        lo1 = max(lo, 1)
    else:
        z = 1.959963984540054 if level == 0.95 else _z(level)
        lo1 = max(1, int(math.floor(n / 2.0 - z * math.sqrt(n) / 2.0)))
    hi1 = n + 1 - lo1
    return lo1 - 1, min(hi1, n) - 1


def _z(level: float) -> float:
    # inverse normal CDF by bisection; only used for non-default levels
    target = 1 - (1 - level) / 2
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def summarize(samples_ms: Sequence[float]) -> dict[str, Any]:
    """Statistics of one point's raw samples (milliseconds). Empty input is an error."""
    arr = np.asarray(samples_ms, dtype=np.float64)
    n = int(arr.size)
    if n == 0:
        raise ValueError("summarize() needs at least one sample; a missing timing is a failure, not 0 ms")
    s = np.sort(arr)
    lo, hi = median_ci_ranks(n)
    mean = float(s.mean())
    std = float(s.std(ddof=1)) if n > 1 else 0.0
    p10, med, p90 = (float(x) for x in np.percentile(s, [10, 50, 90]))
    spread = 1.4826 * float(np.median(np.abs(s - med)))
    unstable = bool(med > 0 and (spread > UNSTABLE_STD_RATIO * med or
                                 (med - p10) > UNSTABLE_RANGE_RATIO * med or
                                 (p90 - med) > UNSTABLE_RANGE_RATIO * med))
    return {"n": n, "median_ms": med, "mean_ms": mean, "std_ms": std, "min_ms": float(s[0]),
            "max_ms": float(s[-1]), "p10_ms": p10, "p90_ms": p90, "ci_low_ms": float(s[lo]),
            "ci_high_ms": float(s[hi]), "unstable": unstable}


# -- rounds: headline, interval, noise floor ------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t distribution function with ``df`` degrees of freedom."""
    if not math.isfinite(df):
        return 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``df = inf``: normal)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


@lru_cache(maxsize=64)
def median_se_factor(rounds: int) -> float:
    """``sd(median of R normal values) / sd(mean of R normal values)``, by numerical integration.

    1 for ``R <= 2`` (the median of two values is their mean), 1.160 for ``R = 3``, tending to
    √(π/2) ≈ 1.2533. Odd ``R``: the variance of the middle order statistic; even ``R``: of the mean
    of the two middle ones (their joint density on a grid).
    """
    if rounds < 1:
        raise ValueError("median_se_factor needs at least one round")
    if rounds <= 2:
        return 1.0
    if rounds > 201:
        return math.sqrt(math.pi / 2.0)
    x = np.linspace(-9.0, 9.0, 1801)
    dx = x[1] - x[0]
    phi = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    cdf = np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x])
    r = rounds
    if r % 2:
        k = (r + 1) // 2
        logc = math.lgamma(r + 1) - math.lgamma(k) - math.lgamma(r - k + 1)
        with np.errstate(divide="ignore"):
            dens = np.exp(logc + (k - 1) * np.log(cdf) + (r - k) * np.log1p(-cdf)) * phi
        var = float(np.sum(x * x * dens) * dx)
    else:
        k = r // 2
        logc = math.lgamma(r + 1) - math.lgamma(k) - math.lgamma(r - k)
        with np.errstate(divide="ignore"):
            fx = np.exp((k - 1) * np.log(cdf)) * phi             # below the lower middle value
            gy = np.exp((r - k - 1) * np.log1p(-cdf)) * phi      # above the upper middle value
        joint = math.exp(logc) * np.outer(fx, gy)
        joint = np.triu(joint, 1)                                # x < y
        s = x[:, None] + x[None, :]
        var = float(np.sum(s * s * joint) * dx * dx) / 4.0
    return math.sqrt(var * r)


@dataclass(frozen=True)
class RoundEstimate:
    """A job's estimate over its rounds (see the module docstring for the definitions)."""

    median_ms: float
    ci_low_ms: float
    ci_high_ms: float
    spread_rel: float
    rounds: int
    log_sd: float         # the job's own sd of log round medians (NaN with one round)
    log_sd_used: float    # after shrinkage toward the run's pooled value (NaN if none)
    df: float             # degrees of freedom of the t quantile (NaN: within-burst CI only)


def log_variance(round_medians_ms: Sequence[float] | np.ndarray) -> float:
    """Sample variance (ddof 1) of the log round medians; NaN with fewer than 2 rounds.

    Equal round medians (a deterministic estimate, e.g. Vela's) have variance 0 exactly: numpy's
    mean is off by an ulp, which would leave ~1e-32 and an interval 2e-16 wider than the headline.
    """
    v = np.log(np.asarray(round_medians_ms, dtype=float))
    if v.size < 2:
        return math.nan
    return 0.0 if np.all(v == v[0]) else float(v.var(ddof=1))


def chi2_median_ratio(df: float) -> float:
    """Median of ``χ²(df) / df`` (Wilson–Hilferty: ``(1 − 2/(9 df))³``; 0.70 for df = 2)."""
    return (1.0 - 2.0 / (9.0 * df)) ** 3


def pooled_log_variance(jobs: Iterable[Sequence[float]]) -> tuple[float, int]:
    """``(s_p², n_jobs)``: the run's typical variance of log round medians, robust to a few bad jobs.

    Each job with ``R >= 2`` rounds gives ``s_j² / m(R − 1)``, a median-unbiased estimate of the
    common variance (``m`` = :func:`chi2_median_ratio`); ``s_p²`` is their median, so a handful of
    jobs hit by a slow spell do not widen every other job's interval (their own ``s_j²`` still
    widens theirs). ``(nan, 0)`` when no job has 2 rounds.
    """
    values = [log_variance(m) / chi2_median_ratio(len(m) - 1) for m in jobs if len(m) >= 2]
    return (float(np.median(values)) if values else math.nan), len(values)


def within_half_log(medians_ms: Sequence[float], ci_low_ms: Sequence[float], ci_high_ms: Sequence[float]) -> float:
    """Typical within-burst CI half-width on the log scale: the median over rounds of
    ``max(log(median / ci_low), log(ci_high / median))``."""
    m = np.asarray(medians_ms, dtype=float)
    lo = np.asarray(ci_low_ms, dtype=float)
    hi = np.asarray(ci_high_ms, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.maximum(np.log(m / lo), np.log(hi / m))
    half = half[np.isfinite(half)]
    return float(np.median(half)) if half.size else 0.0


def round_estimate(round_medians_ms: Sequence[float], within_half: float, pooled_var: float = math.nan,
                   level: float = CI_LEVEL, prior_df: float = PRIOR_DF) -> RoundEstimate:
    """Headline, interval and spread of one job from its round medians.

    Parameters
    ----------
    round_medians_ms : sequence of float
        The median of each timed round (ms, > 0), in round order.
    within_half : float
        The typical within-burst CI half-width on the log scale (:func:`within_half_log`).
    pooled_var : float
        The run's pooled variance of log round medians (:func:`pooled_log_variance`), NaN if none.
    """
    m = np.asarray(round_medians_ms, dtype=float)
    r = int(m.size)
    if r == 0:
        raise ValueError("round_estimate needs at least one round")
    head = float(np.median(m))
    spread = float((m.max() - m.min()) / head) if r >= 2 else math.nan
    own = math.sqrt(log_variance(m)) if r >= 2 else math.nan
    have_pool = math.isfinite(pooled_var)
    if r >= 2 and have_pool:
        var = ((r - 1) * own * own + prior_df * pooled_var) / (r - 1 + prior_df)
        df = r - 1 + prior_df
    elif r >= 2:
        var, df = own * own, float(r - 1)
    elif have_pool:
        var, df = pooled_var, prior_df
    else:
        var, df = math.nan, math.nan
    half = within_half
    used = math.sqrt(var) if math.isfinite(var) else math.nan
    if math.isfinite(var):
        between = t_quantile(0.5 + level / 2.0, df) * median_se_factor(r) * used / math.sqrt(r)
        half = max(half, between)
    return RoundEstimate(median_ms=head, ci_low_ms=head * math.exp(-half), ci_high_ms=head * math.exp(half),
                         spread_rel=spread, rounds=r, log_sd=own, log_sd_used=used, df=df)


#: Resampled pairs behind :func:`noise_floor` (drawn with a fixed seed: the same values give the same floor).
FLOOR_RESAMPLES = 20_000

#: How :func:`noise_floor` is computed, for the manifest.
NOISE_FLOOR_METHOD = ("sentinel bootstrap: 95th percentile of |log(median of R draws / median of R draws)| from the "
                      "sentinel's burst medians (20000 pairs, seed 0, scaled by sqrt(m/(m-1))), as exp(q) - 1: the "
                      "smallest relative difference between two R-round headlines resolved at 95%")


def noise_floor(sentinel_medians_ms: Sequence[float], rounds: int, level: float = CI_LEVEL) -> float:
    """The run's resolution from its sentinel's burst medians (see the module docstring); NaN
    with fewer than two sentinel measurements.

    Two identical points, each measured in ``rounds`` rounds whose medians vary as the
    sentinel's burst medians do over the run, give headlines (medians of their rounds) whose
    relative difference stays below the floor with probability ``level``. The distribution is
    the sentinel's own (a bootstrap), so one spike among many measurements moves the floor as
    little as it moves a median of rounds, while drift or a long slow spell raises it.
    """
    v = np.log(np.asarray([x for x in sentinel_medians_ms if x and x > 0], dtype=float))
    m = int(v.size)
    if m < 2 or rounds < 1:
        return math.nan
    rng = np.random.default_rng(0)
    draws = v[rng.integers(0, m, size=(2, FLOOR_RESAMPLES, rounds))]
    diff = np.abs(np.median(draws[0], axis=1) - np.median(draws[1], axis=1)) * math.sqrt(m / (m - 1))
    return float(math.exp(float(np.quantile(diff, level))) - 1.0)
