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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

CI_LEVEL = 0.95
UNSTABLE_STD_RATIO = 0.10
UNSTABLE_RANGE_RATIO = 0.50


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
