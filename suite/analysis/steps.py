"""Staircase detection (finding F1): latency that is flat, then jumps, along a numeric axis.

A staircase must beat the smooth alternative (:mod:`suite.analysis.trend`) by more than the
noise the run really had (:mod:`suite.analysis.uncertainty`), see :func:`find_steps`: a
periodic test (one common step every ``P``, as blocked kernels do) and an irregular one whose
step positions come from a weighted L1 Potts model solved exactly by dynamic programming. The
Potts model is the one asv uses to find steps in benchmark history (``asv/step_detect.py``,
"solve_potts"); this is an independent implementation applied to latency vs an op parameter
(channels, resolution) instead of latency vs commit.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, replace
from functools import reduce

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    Z95,
    AxisSeries,
    all_axis_series,
    axis_words,
    effect_floor,
    fmt_axis_value,
    pct,
    timed,
)
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.trend import (
    QUADRATIC_MIN_POINTS,
    SeriesData,
    moderated_fit,
    moderated_fit_many,
    series_data,
    series_datas,
    smooth_design,
)
from suite.analysis.uncertainty import (
    CONFIRMED,
    UNRESOLVED,
    Fit,
    critical,
    robust_scale,
    wls_fit,
    wls_tau2_many,
)

#: Largest series the exact O(n^3) solver takes; longer series are thinned evenly first.
MAX_POTTS_POINTS = 256
_ALL_AT_ONCE = 64


def solve_potts_l1(y: np.ndarray, w: np.ndarray, gamma: float) -> list[int]:
    """Exact minimiser of the weighted L1 Potts functional; returns segment end indices.

    Minimises over partitions of ``0..n-1`` into contiguous segments ``s`` with levels ``mu_s``::

        sum_s [ gamma + sum_{i in s} w_i * |y_i - mu_s| ]

    The optimal ``mu_s`` is a weighted median of the segment, hence one of its ``y_i``; since
    the segment cost is convex in ``mu`` and minimised at a point of the segment, minimising
    over *all* ``y_j`` gives the same value, which lets the costs be computed from one
    cumulative-sum table ``S[r, j] = sum_{i<r} w_i |y_i - y_j|``. Dynamic programming over the
    right end gives the exact optimum in O(n^3) time, O(n^2) memory.

    Parameters
    ----------
    y : array of float
        Values in order along the axis.
    w : array of float
        Non-negative weights (here 1 / CI half-width, so residuals are in CI units).
    gamma : float
        Penalty per segment, in the units of ``w * |y - mu|``.

    Returns
    -------
    list of int
        Exclusive end index of every segment; the last one is ``n``.
    """
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    n = len(y)
    if n == 0:
        return []
    table = np.zeros((n + 1, n))
    np.cumsum(w[:, None] * np.abs(y[:, None] - y[None, :]), axis=0, out=table[1:])
    best = np.zeros(n + 1)
    start = np.zeros(n + 1, dtype=int)
    # all segment costs at once for short series (n^3 floats), row by row for long ones
    costs = (table[None, :, :] - table[:, None, :]).min(axis=2) if n <= _ALL_AT_ONCE else None  # [l, r]
    for r in range(1, n + 1):
        if costs is not None:
            seg_cost = costs[:r, r]
        else:
            seg_cost = (table[r][None, :] - table[:r]).min(axis=1)  # segment [l, r) for every l < r
        total = best[:r] + seg_cost + gamma
        left = int(np.argmin(total))
        best[r] = total[left]
        start[r] = left
    ends = []
    r = n
    while r > 0:
        ends.append(r)
        r = start[r]
    return ends[::-1]


@dataclass(frozen=True)
class Step:
    """One step: latency jumps between axis values ``at`` and ``next``.

    ``costs_more`` is ``latency(next) / latency(at) - 1``; ``saving`` is what rounding the
    axis down from the upper plateau to ``at`` saves, ``1 - latency(at) / latency(next)``;
    ``upper_end`` is the last axis value of the plateau that starts at ``next``. Latencies are
    the fitted model's levels (ms). ``t`` is the step's t statistic (for a periodic staircase,
    that of the common step) and ``resolved`` whether ``costs_more`` clears the effect floor
    (the size threshold or the run's noise floor, whichever is larger).
    """

    at: float
    next: float
    upper_end: float
    latency_at_ms: float
    latency_next_ms: float
    costs_more: float
    saving: float
    t: float = float("nan")
    resolved: bool = True


@dataclass(frozen=True)
class Staircase:
    """Steps found in one series, and their period when regular (``None`` otherwise).

    ``verdict`` is ``confirmed`` or ``unresolved``; ``model`` says which test decided
    (``periodic``: one common step every ``period``; ``irregular``: steps at free positions);
    ``t``/``critical``/``critical_unresolved``: the test statistic and the two thresholds it was
    held against; ``tau2``/``dof``: the series' scatter under the staircase model and its
    degrees of freedom; ``effect_floor``: the smallest step it may claim; ``confirm_idx``:
    indices (into the series' arrays) of the points whose re-measurement would decide.
    """

    series: AxisSeries
    steps: tuple[Step, ...]
    period: float | None
    verdict: str = CONFIRMED
    model: str = "periodic"
    t: float = float("nan")
    critical: float = float("nan")
    critical_unresolved: float = float("nan")
    tau2: float = float("nan")
    dof: float = float("nan")
    effect_floor: float = 0.0
    confirm_idx: tuple[int, ...] = ()
    bic: float = float("nan")

    @property
    def magnitude(self) -> float:
        """The largest step, relative."""
        return max(s.costs_more for s in self.steps)


def find_steps(series: AxisSeries, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
               data: SeriesData | None = None, smooth: Fit | None = None,
               smooth_tau2: float | None = None, periodic_trial: PeriodicTrial | None = None) -> Staircase | None:
    """Steps in one series (confirmed or unresolved), or ``None`` when it has none.

    Model. The null is the smooth alternative of :mod:`suite.analysis.trend` (latency affine in
    MACs, bending with ``u^2`` on longer series). A staircase must beat it by more than the
    noise, where the noise is each headline's between-round ``sigma`` plus the scatter ``tau``
    the series itself shows around the *staircase* model (moderated towards
    ``assumed_point_noise_rel``), never a within-burst CI. Two tests, on integer axes first:

    1. **periodic**: ``latency = smooth + b * ceil(x / P)`` (steps at multiples of ``P``, one
       common height ``b``; fitted on latency and on log-latency, i.e. equal absolute or equal
       relative steps) for every period ``P`` from twice the grid to half the span that gives
       3+ plateaus with at least two plateaus (and half the points) of 2+ points. ``t = b /
       se(b)`` of the best ``P`` is held against the one-sided Student t quantile at family-wise
       level ``alpha`` over the distinct step patterns tried (Bonferroni), ``n - p +
       prior_dof`` degrees of freedom.
    2. **irregular**: candidate positions from the weighted L1 Potts fit of log-latency
       (:func:`solve_potts_l1`, weights ``1 / sqrt(sigma^2 + tau_d^2)`` with ``tau_d`` a robust
       scale of the second differences, penalty ``step_penalty * log(n)``), plateaus of one point
       merged away; then ``latency = smooth + sum_j b_j * [x > x_j]`` is fitted and the weakest
       step dropped until every step has ``b_j > 0`` and ``t_j`` clears the unresolved level;
       Bonferroni over the ``n - 1`` positions Potts could pick.

    When both tests confirm steps, the periodic one is kept if every irregular step lies on a
    boundary of its period, else the model with the lower Bayesian information criterion
    (weighted residual sum of squares plus ``log(n)`` per parameter, a step position or the
    period counting as one): irregular steps are not forced into a period.

    No test runs when the smooth model leaves no scatter beyond the points' own intervals, and
    the irregular one not when a confirmed periodic fit leaves no more scatter than
    ``assumed_point_noise_rel``.

    Plateaus must be flat: the smooth part may rise over a plateau by at most
    ``step_max_drift`` of the step. A step is claimed (``confirmed``) when its test clears
    ``alpha`` and it is at least ``max(step_min_rel, noise floor)``; a staircase whose test
    reaches only ``alpha_unresolved``, or whose steps clear ``step_min_rel`` but not the noise
    floor, is ``unresolved``. Points without a finite ``sigma`` are ignored (no claim can be made
    about them). A staircase whose period equals the sampling interval cannot be told from a
    ramp and is not reported.

    ``data``, ``smooth`` (the smooth fit) or ``smooth_tau2`` (only its scatter, NaN when it
    cannot be fitted; :func:`analyse_series` fits every series' smooth model in one batch)
    skip computing them again, as ``periodic_trial`` (the periodic test's candidate fits, from
    :func:`periodic_trials`) does for the periodic test.
    """
    data = data if data is not None else series_data(series, MAX_POTTS_POINTS)
    if smooth_tau2 is None and _worth_testing(data, thresholds, None):
        smooth = smooth if smooth is not None else wls_fit(smooth_design(data), data.y, data.v, robust=False)
        smooth_tau2 = smooth.tau2 if smooth is not None else float("nan")
    if not _worth_testing(data, thresholds, smooth_tau2):
        return None
    return _find_steps_many([series], [data], [periodic_trial], [True], thresholds)[0]


def _adequate(periodic: Staircase | None, thresholds: Thresholds) -> bool:
    """Whether a periodic fit leaves no more scatter than the prior allows: it needs no
    irregular rival."""
    return periodic is not None and periodic.verdict == CONFIRMED and \
        periodic.tau2 <= thresholds.assumed_point_noise_rel**2


def _choose(periodic: Staircase | None, irregular: Staircase | None) -> Staircase | None:
    """:func:`find_steps`' decision between the periodic and the irregular staircase."""
    found = [st for st in (periodic, irregular) if st is not None]
    confirmed = [st for st in found if st.verdict == CONFIRMED]
    if len(confirmed) == 2:
        periodic, irregular = confirmed
        period = periodic.period or 0.0
        # two or more irregular steps at the period's boundaries are that period (one step lies on
        # the boundaries of many periods and shows none); else the better fit for its parameters
        if len(irregular.steps) >= 2 and \
                all(math.ceil(st.at / period) < math.ceil(st.next / period) for st in irregular.steps):
            return periodic
        return min(confirmed, key=lambda st: st.bic)
    if confirmed:
        return confirmed[0]
    return max(found, key=lambda st: st.t / st.critical) if found else None


def _on_every_point(stair: Staircase, data: SeriesData) -> Staircase:
    """``stair`` found on thinned points ``data``, with each step moved to the series' own
    neighbouring points: the split of the full points between the thinned ``at`` and ``next``
    that leaves the least squared log-latency deviation from the two plateaus' means (points up to
    the neighbouring steps on each side); plateau ends and the points to re-measure follow. The
    step sizes, the test and its verdict are those of the thinned fit."""
    if len(stair.series.x) <= data.n or not stair.steps:
        return stair  # nothing was thinned
    full = series_data(stair.series)
    if full.n <= data.n:
        return stair
    x, z = full.x, np.log(full.y)
    pos = np.searchsorted(x, [st.at for st in stair.steps])  # the thinned `at` among the full points
    ends = np.searchsorted(x, [st.next for st in stair.steps])
    splits = []
    for k, (a, b) in enumerate(zip(pos.tolist(), ends.tolist(), strict=True)):
        lo = int(pos[k - 1]) + 1 if k else 0
        hi = int(pos[k + 1]) + 1 if k + 1 < len(pos) else full.n
        if b - a < 2:
            splits.append(a)
            continue
        cost = []
        for i in range(a, b):  # step between full points i and i + 1
            left, right = z[lo:i + 1], z[i + 1:hi]
            cost.append(float(np.sum((left - left.mean()) ** 2) + np.sum((right - right.mean()) ** 2)))
        splits.append(a + int(np.argmin(cost)))
    steps = []
    for k, (st, i) in enumerate(zip(stair.steps, splits, strict=True)):
        end = x[splits[k + 1]] if k + 1 < len(splits) else st.upper_end  # the top plateau ends where it did
        steps.append(replace(st, at=float(x[i]), next=float(x[i + 1]), upper_end=float(end)))
    around = sorted({int(full.idx[j]) for i in splits for j in (i, i + 1)})
    return replace(stair, steps=tuple(steps), confirm_idx=tuple(around))


def _plateaus(k: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges of equal consecutive values of ``k``."""
    cut = np.flatnonzero(np.diff(k) != 0) + 1
    starts = np.r_[0, cut]
    return list(zip(starts.tolist(), np.r_[cut, len(k)].tolist(), strict=True))


def _verdict(t: float, crit: float, crit_u: float, magnitude: float, floor: float,
             thresholds: Thresholds) -> str | None:
    if magnitude < thresholds.step_min_rel or not t >= crit_u:
        return None
    return CONFIRMED if t >= crit and magnitude >= floor else UNRESOLVED


def _worth_testing(data: SeriesData, thresholds: Thresholds, smooth_tau2: float | None) -> bool:
    """Whether :func:`find_steps` fits anything to ``data``: enough points, a rise between two
    neighbours (every step has one) and scatter the smooth model leaves (``smooth_tau2`` not 0)."""
    if data.n < thresholds.min_series_points:
        return False
    if not np.any(data.y[1:] >= (1 + 0.5 * thresholds.step_min_rel) * data.y[:-1]):
        return False
    return smooth_tau2 != 0.0  # 0: the smooth model explains every point within its own interval


@dataclass(frozen=True)
class PeriodicTrial:
    """The periodic test's work on one series before its decision: the periods tried, their
    step patterns ``K`` (one row each), the ``(log, row)`` candidates fitted in full and their
    moderated fits (``None`` where a fit failed)."""

    periods: tuple[int, ...]
    K: np.ndarray
    candidates: tuple[tuple[bool, int], ...]
    fits: tuple[tuple[Fit, float] | None, ...]


def _periodic_candidates(data: SeriesData, X0: np.ndarray, thresholds: Thresholds
                         ) -> tuple[tuple[int, ...], np.ndarray, tuple[tuple[bool, int], ...]] | None:
    """Periods, step patterns and the ``(log, row)`` patterns the periodic test fits in full;
    ``None`` when the axis is not a positive increasing integer grid with patterns to try."""
    grid = _grid_of(data)
    if grid is None:
        return None
    periods, K = _step_patterns(grid)
    if not periods:
        return None
    return periods, K, tuple((log, j) for log in (False, True) for j in _best_patterns(X0, K, data, thresholds, log))


def periodic_trials(datas: list[SeriesData], smooth_tau2: np.ndarray, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                    tested: list[bool] | None = None) -> list[PeriodicTrial | None]:
    """The periodic test's candidate fits of every series :func:`find_steps` would test, the
    fits of one design shape and scale (latency or log-latency) as one stack
    (:func:`~suite.analysis.trend.moderated_fit_many`); ``None`` for the other series.
    ``tested`` (whether :func:`find_steps` fits each series at all) skips working it out again."""
    found: dict[int, tuple[tuple[int, ...], np.ndarray, tuple[tuple[bool, int], ...]]] = {}
    stacks: dict[tuple[int, int, bool], list[tuple[int, int]]] = {}
    designs: dict[int, np.ndarray] = {}
    if tested is None:
        tested = [_worth_testing(d, thresholds, t2) for d, t2 in zip(datas, smooth_tau2.tolist(), strict=True)]
    by_grid: dict[tuple[bytes, int], list[int]] = {}
    for i, (data, worth) in enumerate(zip(datas, tested, strict=True)):
        if not worth:
            continue
        X0 = designs[i] = smooth_design(data)
        grid = _grid_of(data)
        if grid is not None and _step_patterns(grid)[0]:
            by_grid.setdefault((grid, X0.shape[1]), []).append(i)
    for (grid, _), on_grid in by_grid.items():
        periods, K = _step_patterns(grid)
        X0s = np.stack([designs[i] for i in on_grid])
        best = {log: _best_patterns_many(X0s, K, [datas[i] for i in on_grid], thresholds, log) for log in (False, True)}
        for s, i in enumerate(on_grid):
            found[i] = (periods, K, tuple((log, j) for log in (False, True) for j in best[log][s]))
            for c, (log, _) in enumerate(found[i][2]):
                stacks.setdefault((datas[i].n, X0s.shape[2], log), []).append((i, c))
    fits: dict[tuple[int, int], tuple[Fit, float] | None] = {}
    for (_, _, log), members in stacks.items():
        X = np.stack([np.column_stack([designs[i], found[i][1][found[i][2][c][1]]]) for i, c in members])
        for key, got in zip(members, moderated_fit_many(X, [datas[i] for i, _ in members], thresholds, log=log),
                            strict=True):
            fits[key] = got
    return [PeriodicTrial(periods=found[i][0], K=found[i][1], candidates=found[i][2],
                          fits=tuple(fits[(i, c)] for c in range(len(found[i][2])))) if i in found else None
            for i in range(len(datas))]


def _periodic(data: SeriesData, X0: np.ndarray, thresholds: Thresholds, floor: float,
              trial: PeriodicTrial | None = None) -> Staircase | None:
    """Test 1 of :func:`find_steps`: one common step every ``P`` (``trial``: its fits, done already)."""
    if trial is None:
        got_candidates = _periodic_candidates(data, X0, thresholds)
        if got_candidates is None:
            return None
        periods, K, candidates = got_candidates
        fits = tuple(moderated_fit(np.column_stack([X0, K[j]]), data, thresholds, log=log) for log, j in candidates)
    else:
        periods, K, candidates, fits = trial.periods, trial.K, trial.candidates, trial.fits
    best: tuple[float, int, bool, object] | None = None
    for (log, j), got in zip(candidates, fits, strict=True):
        if got is None:
            continue
        fit, dof = got
        t = fit.t(X0.shape[1])
        if best is None or t > best[0]:
            best = (t, j, log, got)
    if best is None:
        return None
    t, j, log, (fit, dof) = best  # type: ignore[misc]
    x = data.x
    m = len(periods)
    crit, crit_u = critical(thresholds.alpha, m, dof), critical(thresholds.alpha_unresolved, m, dof)
    k = K[j]
    level = np.exp(fit.fitted) if log else fit.fitted
    step = float(fit.beta[-1])
    if step <= 0:
        return None
    plateaus = _plateaus(k)
    treads = [X0[b - 1] - X0[a] for a, b in plateaus if b - a >= 2]
    if treads and _steeper(np.mean(treads, axis=0), fit, thresholds.step_max_drift * step):
        return None
    steps = []
    for (_, b), (_, c) in zip(plateaus[:-1], plateaus[1:], strict=True):
        jump = float(level[b] / level[b - 1] - 1.0)
        steps.append(Step(at=float(x[b - 1]), next=float(x[b]), upper_end=float(x[c - 1]),
                          latency_at_ms=float(level[b - 1]), latency_next_ms=float(level[b]), costs_more=jump,
                          saving=float(1.0 - level[b - 1] / level[b]), t=float(t), resolved=jump >= floor))
    magnitude = max(s.costs_more for s in steps)
    verdict = _verdict(t, crit, crit_u, magnitude, floor, thresholds)
    if verdict is None:
        return None
    around = sorted({int(data.idx[i]) for a, _ in plateaus[1:] for i in (a - 1, a)})
    return Staircase(series=data.series, steps=tuple(steps), period=float(periods[j]), verdict=verdict,
                     model="periodic", t=float(t), critical=crit, critical_unresolved=crit_u, tau2=fit.tau2,
                     dof=dof, effect_floor=floor, confirm_idx=tuple(around),
                     bic=_bic(data, level, X0.shape[1] + 2))


def _grid_of(data: SeriesData) -> bytes | None:
    """:func:`_integer_grid` of the series' axis values."""
    return _integer_grid(np.ascontiguousarray(data.x, dtype=float).tobytes())


@functools.lru_cache(maxsize=4096)
def _integer_grid(axis: bytes) -> bytes | None:
    """The axis values ``axis`` (float64 bytes) as int64 bytes when they are positive integers
    (to ``np.allclose``) that increase, else ``None``; once per grid, like :func:`_step_patterns`."""
    x = np.frombuffer(axis, dtype=float)
    if np.any(x <= 0) or not np.allclose(x, np.round(x)):
        return None
    xi = np.round(x).astype(np.int64)
    gaps = np.diff(xi)
    if not len(gaps) or np.any(gaps <= 0):
        return None
    return xi.tobytes()


@functools.lru_cache(maxsize=4096)
def _step_patterns(grid: bytes) -> tuple[tuple[int, ...], np.ndarray]:
    """The distinct step patterns ``ceil(x / P) - ceil(x_0 / P)`` the periodic test tries on the
    axis values ``grid`` (int64 bytes, increasing), and the first period of each: periods from
    twice the median gap to half the span giving 3+ plateaus, at least two steps with a plateau
    of 2+ points on either side (a period needs two steps to be seen: one step and a lone end
    point fit any period up to half the span), half the points on plateaus of 2+ points and no
    empty plateau. Series of a sweep share their grid, so this
    is computed once per grid (the rows of ``K`` are read-only)."""
    xi = np.frombuffer(grid, dtype=np.int64)
    n = len(xi)
    found: dict[bytes, tuple[int, np.ndarray]] = {}
    for period in range(max(2, math.ceil(2 * float(np.median(np.diff(xi))))), int(xi[-1] - xi[0]) // 2 + 1):
        k = -(-xi // period)
        k = k - k[0]
        sizes = np.bincount(k)
        multi = sizes >= 2
        seen = int(np.count_nonzero(multi[:-1] & multi[1:]))  # steps between two plateaus of 2+ points
        if k[-1] < 2 or seen < 2 or sizes[multi].sum() * 2 < n or (sizes == 0).any():
            continue
        found.setdefault(k.tobytes(), (period, k.astype(float)))
    periods = tuple(p for p, _ in found.values())
    K = np.stack([k for _, k in found.values()]) if found else np.empty((0, n))
    K.flags.writeable = False
    return periods, K


def _bic(data: SeriesData, level: np.ndarray, params: int) -> float:
    """Weighted residual sum of squares of fitted ``level`` (relative errors over each point's
    variance plus the prior scatter, the same weights for every model) plus ``params * log(n)``."""
    w = 1.0 / (data.v + DEFAULT_THRESHOLDS.assumed_point_noise_rel**2)
    return float(np.sum(w * ((data.y - level) / data.y) ** 2) + params * math.log(data.n))


def _steeper(tread: np.ndarray, fit: Fit, limit: float) -> bool:
    """Whether the smooth part rises over a plateau (design row difference ``tread``) by
    significantly more than ``limit`` (one-sided, 97.5 %): a ramp, not a flat plateau."""
    c = np.zeros(len(fit.beta))
    c[:len(tread)] = tread
    rise = float(c @ fit.beta)
    se = math.sqrt(max(float(c @ fit.cov @ c), 0.0))
    return rise - Z95 * se > limit


#: Candidate periods fitted in full after the quick scan (per scale, linear and log).
_FULL_FITS = 1


def _best_patterns(X0: np.ndarray, K: np.ndarray, data: SeriesData, thresholds: Thresholds, log: bool) -> list[int]:
    """Indices of the step patterns (rows of ``K``) that explain most of what the smooth model
    leaves, by one weighted projection for all of them at once (:func:`_best_patterns_many` of
    one series)."""
    return _best_patterns_many(X0[None], K, [data], thresholds, log)[0]


#: Series whose step patterns are projected in one stack (bounds its (series, patterns, points) arrays).
_PROJECT_ELEMENTS = 1 << 22


def _best_patterns_many(X0: np.ndarray, K: np.ndarray, datas: list[SeriesData], thresholds: Thresholds,
                        log: bool) -> list[list[int]]:
    """:func:`_best_patterns` of series on one grid (step patterns ``K``) with smooth designs of
    one shape (``X0``: series x points x columns), the projections of a stack of them at once."""
    out: list[list[int]] = []
    step = max(1, _PROJECT_ELEMENTS // max(1, K.size))
    for lo in range(0, len(datas), step):
        part = datas[lo:lo + step]
        y = np.stack([np.log(d.y) if log else d.y for d in part])
        v = np.stack([d.v for d in part])
        scale = np.ones_like(y) if log else y
        sw = 1.0 / (scale * np.sqrt(v + thresholds.assumed_point_noise_rel**2))
        q, _ = np.linalg.qr(X0[lo:lo + step] * sw[:, :, None])
        ys = y * sw
        yr = ys - (q @ (np.swapaxes(q, 1, 2) @ ys[:, :, None]))[:, :, 0]
        Ks = K[None, :, :] * sw[:, None, :]
        Kr = Ks - (Ks @ q) @ np.swapaxes(q, 1, 2)
        num = (Kr @ yr[:, :, None])[:, :, 0]
        den = np.einsum("sij,sij->si", Kr, Kr)
        gain = np.where((den > 1e-12) & (num > 0), num**2 / np.maximum(den, 1e-12), -1.0)
        order = np.argsort(-gain, axis=1)[:, :_FULL_FITS]
        out.extend([int(j) for j in row if g[j] > 0] for row, g in zip(order, gain, strict=True))
    return out


def _irregular_bounds(data: SeriesData, thresholds: Thresholds) -> list[int]:
    """The step positions :func:`_irregular` starts from: the Potts fit's segment ends, plateaus
    of one point merged away (empty: no step to test)."""
    n = data.n
    z = np.log(data.y)
    d2 = np.diff(z, 2)
    tau_d = robust_scale(d2) / math.sqrt(6.0) if len(d2) >= 3 else robust_scale(np.diff(z)) / math.sqrt(2.0)
    tau_d = tau_d if np.isfinite(tau_d) else 0.0
    weights = 1.0 / np.sqrt(data.v + tau_d**2)
    ends = solve_potts_l1(z, weights, thresholds.step_penalty * math.log(n))
    bounds = [e for e in ends[:-1]]
    # plateaus need two points: merge one-point segments into a neighbour
    changed = True
    while changed and bounds:
        changed = False
        edges = [0, *bounds, n]
        for i in range(len(edges) - 1):
            if edges[i + 1] - edges[i] < 2:
                # drop the boundary on the side whose level is closer
                drop = i - 1 if i == len(edges) - 2 else i if i == 0 else (
                    i - 1 if abs(z[edges[i]] - z[edges[i] - 1]) < abs(z[edges[i + 1]] - z[edges[i + 1] - 1]) else i)
                del bounds[min(max(drop, 0), len(bounds) - 1)]
                changed = True
                break
    return bounds


def _step_design(X0: np.ndarray, bounds: list[int]) -> np.ndarray:
    """The smooth design with one step indicator ``[i >= b]`` per position in ``bounds``."""
    n = X0.shape[0]
    return np.column_stack([X0, *((np.arange(n) >= b).astype(float) for b in bounds)])


def _irregular(data: SeriesData, X0: np.ndarray, thresholds: Thresholds, floor: float, proposed: list[int],
               first: tuple[Fit, float] | None) -> Staircase | None:
    """Test 2 of :func:`find_steps`: steps at free positions proposed by the Potts fit
    (``proposed``, from :func:`_irregular_bounds`; ``first``: the moderated fit of
    :func:`_step_design` over them), the weakest dropped and the rest refitted until all clear."""
    n = data.n
    bounds, got = list(proposed), first
    while bounds:
        if got is None:
            return None
        fit, dof = got
        crit = critical(thresholds.alpha, n - 1, dof)
        crit_u = critical(thresholds.alpha_unresolved, n - 1, dof)
        ts = np.array([fit.t(X0.shape[1] + i) for i in range(len(bounds))])
        weakest = int(np.argmin(ts))
        if ts[weakest] >= crit_u:
            break
        del bounds[weakest]
        got = moderated_fit(_step_design(X0, bounds), data, thresholds) if bounds else None
    if not bounds:
        return None
    p0 = X0.shape[1]
    level = fit.fitted
    edges = [0, *bounds, n]
    x = data.x
    steps, verdicts = [], []
    for i, b in enumerate(bounds):
        a, c = edges[i], edges[i + 2]
        height = float(fit.beta[p0 + i])
        limit = thresholds.step_max_drift * height
        if _steeper(X0[b - 1] - X0[a], fit, limit) or _steeper(X0[c - 1] - X0[b], fit, limit):
            continue
        jump = float(level[b] / level[b - 1] - 1.0)
        verdict = _verdict(float(ts[i]), crit, crit_u, jump, floor, thresholds)
        if verdict is None:
            continue
        verdicts.append(verdict)
        steps.append((b, Step(at=float(x[b - 1]), next=float(x[b]), upper_end=float(x[c - 1]),
                              latency_at_ms=float(level[b - 1]), latency_next_ms=float(level[b]), costs_more=jump,
                              saving=float(1.0 - level[b - 1] / level[b]), t=float(ts[i]), resolved=jump >= floor)))
    if not steps:
        return None
    confirmed = [st for (b, st), v in zip(steps, verdicts, strict=True) if v == CONFIRMED]
    chosen = confirmed if confirmed else [st for _, st in steps]
    idx = [b for (b, st), v in zip(steps, verdicts, strict=True) if not confirmed or v == CONFIRMED]
    t_min = min(st.t for st in chosen)
    around = sorted({int(data.idx[i]) for b in idx for i in (b - 1, b)})
    return Staircase(series=data.series, steps=tuple(chosen),
                     period=step_period([st.at for st in chosen], thresholds) if confirmed else None,
                     verdict=CONFIRMED if confirmed else UNRESOLVED, model="irregular", t=t_min, critical=crit,
                     critical_unresolved=crit_u, tau2=fit.tau2, dof=dof, effect_floor=floor,
                     confirm_idx=tuple(around), bic=_bic(data, level, X0.shape[1] + 2 * len(bounds)))


def step_period(positions: list[float], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> float | None:
    """Period ``P`` of step positions, or ``None`` when the steps are not regular.

    Regular means: at least two steps, all at integer positions, ``P`` = their greatest
    common divisor is at least 2, and at least ``period_min_coverage`` of the multiples of
    ``P`` between the first and last step carry a step.
    """
    if len(positions) < 2 or any(not float(p).is_integer() or p <= 0 for p in positions):
        return None
    ints = sorted(int(p) for p in positions)
    period = reduce(math.gcd, ints)
    if period < 2:
        return None
    expected = (ints[-1] - ints[0]) // period + 1
    if len(ints) / expected < thresholds.period_min_coverage:
        return None
    return float(period)


@dataclass(frozen=True)
class SeriesModel:
    """What the staircase analysis learnt about one series: its staircase (confirmed or
    unresolved, or ``None``), the design columns of its steps over the usable points (empty
    when no staircase is confirmed: the smooth model alone), the scatter ``tau2`` around that
    model and its degrees of freedom. Non-monotonic and the device's point noise reuse it."""

    series: AxisSeries
    stair: Staircase | None
    steps_design: np.ndarray
    tau2: float
    dof: float
    data: SeriesData | None = None


def step_columns(data: SeriesData, stair: Staircase | None) -> np.ndarray:
    """Design columns of a confirmed staircase over ``data``'s points: ``ceil(x / P)`` for a
    periodic one, one indicator ``[x > at]`` per step otherwise; none without a staircase."""
    if stair is None or stair.verdict != CONFIRMED:
        return np.empty((data.n, 0))
    if stair.model == "periodic" and stair.period:
        return (-(-np.round(data.x).astype(np.int64) // int(stair.period))).astype(float)[:, None]
    return np.column_stack([(data.x > st.at).astype(float) for st in stair.steps])


def analyse_series(series: list[AxisSeries], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[SeriesModel]:
    """:func:`find_steps` on every series with ``min_series_points``, plus the scatter of each
    series around its model (the staircase when confirmed, else the smooth model).

    The smooth model of every series is fitted first, in batches of series of one length
    (:func:`smooth_scatter`), then the periodic test's candidates of the series that rise
    (:func:`periodic_trials`); :func:`find_steps` then decides series by series."""
    usable = [s for s in series if len(s.x) >= thresholds.min_series_points]
    datas = series_datas(usable, MAX_POTTS_POINTS)
    smooth_tau2 = smooth_scatter(datas)
    tested = [_worth_testing(d, thresholds, t2) for d, t2 in zip(datas, smooth_tau2.tolist(), strict=True)]
    trials = periodic_trials(datas, smooth_tau2, thresholds, tested)
    stairs = _find_steps_many(usable, datas, trials, tested, thresholds)
    out = []
    d0 = thresholds.prior_dof
    for s, data, t2, stair in zip(usable, datas, smooth_tau2.tolist(), stairs, strict=True):
        cols = step_columns(data, stair)
        if stair is not None and stair.verdict == CONFIRMED:
            tau2, dof = stair.tau2, stair.dof
        elif math.isfinite(t2):
            smooth_dof = data.n - (3 if data.n >= QUADRATIC_MIN_POINTS else 2)
            # the smooth fit's scatter, moderated as moderated_fit does
            tau2 = (d0 * thresholds.assumed_point_noise_rel**2 + smooth_dof * t2) / (d0 + smooth_dof)
            dof = smooth_dof + d0
        else:
            tau2, dof = float("nan"), float("nan")
        out.append(SeriesModel(series=s, stair=stair, steps_design=cols, tau2=tau2, dof=dof, data=data))
    return out


def _find_steps_many(series: list[AxisSeries], datas: list[SeriesData], trials: list[PeriodicTrial | None],
                     tested: list[bool], thresholds: Thresholds) -> list[Staircase | None]:
    """:func:`find_steps` of each series (``tested``: worth testing, its smooth scatter known):
    the periodic test (its fits in ``trials`` where done already), then the irregular one unless
    the periodic fit is adequate, its first fits of one design shape as one stack
    (:func:`~suite.analysis.trend.moderated_fit_many`), and :func:`_choose` between them."""
    work: dict[int, tuple[np.ndarray, float, Staircase | None, list[int]]] = {}
    stacks: dict[tuple[int, int], list[int]] = {}
    for i, (s, data, trial, worth) in enumerate(zip(series, datas, trials, tested, strict=True)):
        if not worth:
            continue
        X0 = smooth_design(data)
        floor = effect_floor(s.floor, thresholds.step_min_rel)
        periodic = _periodic(data, X0, thresholds, floor, trial)
        bounds = [] if _adequate(periodic, thresholds) else _irregular_bounds(data, thresholds)
        work[i] = (X0, floor, periodic, bounds)
        if bounds:
            stacks.setdefault((data.n, X0.shape[1] + len(bounds)), []).append(i)
    firsts: dict[int, tuple[Fit, float] | None] = {}
    for members in stacks.values():
        X = np.stack([_step_design(work[i][0], work[i][3]) for i in members])
        firsts.update(zip(members, moderated_fit_many(X, [datas[i] for i in members], thresholds), strict=True))
    out: list[Staircase | None] = [None] * len(series)
    for i, (X0, floor, periodic, bounds) in work.items():
        irregular = _irregular(datas[i], X0, thresholds, floor, bounds, firsts.get(i)) if bounds else None
        found = _choose(periodic, irregular)
        out[i] = _on_every_point(found, datas[i]) if found is not None else None
    return out


def smooth_scatter(datas: list[SeriesData]) -> np.ndarray:
    """``tau2`` of the smooth model (:func:`~suite.analysis.trend.smooth_design`, fitted as
    :func:`~suite.analysis.uncertainty.wls_fit` without robust weights) of every series; NaN
    where it cannot be fitted (fewer than three points, collinear columns). Series of one
    length share a design shape and are fitted as one stack."""
    out = np.full(len(datas), np.nan)
    by_len: dict[int, list[int]] = {}
    for i, d in enumerate(datas):
        if d.n >= 3:
            by_len.setdefault(d.n, []).append(i)
    for n, idx in by_len.items():
        u = np.stack([datas[i].u for i in idx])
        cols = [np.ones_like(u), u] + ([u**2] if n >= QUADRATIC_MIN_POINTS else [])
        X = np.stack(cols, axis=2)
        y = np.stack([datas[i].y for i in idx])
        v = np.stack([datas[i].v for i in idx])
        out[idx] = wls_tau2_many(X, y, v)
    return out


def device_point_noise(models: list[SeriesModel], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, float]:
    """Per device, the typical point-to-point scatter (relative sd) its series show: the median
    of their ``sqrt(tau2)``; devices without series are absent (callers fall back to
    ``assumed_point_noise_rel``)."""
    by: dict[str, list[float]] = {}
    for m in models:
        if np.isfinite(m.tau2):
            by.setdefault(str(m.series.key.get("device")), []).append(math.sqrt(m.tau2))
    return {d: float(np.median(v)) for d, v in by.items()}


def staircases(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
               axes: list[str] | None = None, series: list[AxisSeries] | None = None,
               models: list[SeriesModel] | None = None) -> list[Staircase]:
    """Every staircase (confirmed or unresolved) in ``df``, series by series, along ``axes``
    (default: all numeric params).

    ``series`` (from :func:`~suite.analysis.series.all_axis_series`) or ``models`` (from
    :func:`analyse_series`) skip building them again.
    """
    if models is None:
        if series is None:
            series = all_axis_series(timed(df, thresholds), thresholds.min_series_points, axes)
        models = analyse_series(series, thresholds)
    return [m.stair for m in models if m.stair is not None]


STAIRCASE_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "axis", "series", "steps_at", "period", "max_step",
                     "max_saving", "verdict", "t", "critical", "noise_rel", "effect_floor"]


def staircase_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                    axes: list[str] | None = None, series: list[AxisSeries] | None = None,
                    models: list[SeriesModel] | None = None) -> pd.DataFrame:
    """One row per series with steps: place, axis, fixed params, positions, period, largest
    step, verdict, the test statistic and its critical value, the series' scatter
    (``noise_rel``) and the effect floor."""
    rows = []
    for st in staircases(df, thresholds, axes, series, models):
        k = st.series.key
        rows.append({"device": k.get("device"), "sweep": k.get("sweep"), "runtime": k.get("runtime"),
                     "op": k.get("op"), "dtype": k.get("dtype"), "axis": st.series.axis,
                     "series": st.series.describe(), "steps_at": ",".join(fmt_axis_value(s.at) for s in st.steps),
                     "period": st.period if st.period is not None else float("nan"), "max_step": st.magnitude,
                     "max_saving": max(s.saving for s in st.steps), "verdict": st.verdict, "t": st.t,
                     "critical": st.critical, "noise_rel": math.sqrt(st.tau2) if np.isfinite(st.tau2) else np.nan,
                     "effect_floor": st.effect_floor})
    return pd.DataFrame(rows, columns=STAIRCASE_COLUMNS)


def staircase_shape(axis: str, period: float | None, upper: list[float]) -> str:
    """Where a staircase steps up, the same way for both tests (so two series of one device read alike):
    ``every 16 output channels (at cout 20, 36, 52)`` for a periodic one, ``at cout 20, 32, 44 (no
    common period)`` for steps at free positions. ``upper`` holds the first axis value of each
    higher plateau: the value that costs more, not the one before the step."""
    at = ", ".join(fmt_axis_value(v) for v in upper)
    if period is not None:
        return f"every {fmt_axis_value(period)} {axis_words(axis)} (at {axis} {at})"
    return f"at {axis} {at}" + (" (no common period)" if len(upper) > 1 else "")


#: Jobs listed for confirmation per anomaly (evidence ``confirm_jobs``).
MAX_CONFIRM_JOBS = 64


def find_staircases(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                    axes: list[str] | None = None, series: list[AxisSeries] | None = None,
                    models: list[SeriesModel] | None = None) -> list[Anomaly]:
    """F1 anomalies: one per (device, sweep, runtime, op, dtype, axis) with steps.

    ``confirmed`` when at least one series' staircase is confirmed (see :func:`find_steps` for
    the model and thresholds), else ``unresolved`` (and ``evidence["confirm_jobs"]`` lists the
    points beside the candidate steps). The message describes the confirmed series with the
    largest step; evidence lists how many series showed steps, their periods and verdicts, the
    test statistic against its critical value, the series' scatter and the effect floor.
    ``Anomaly.at`` lists the last axis value before each step (``16,32,48``: the boundaries); the
    message names the first value past each (``at cout 20, 36, 52``), where latency is higher.
    """
    groups: dict[tuple, list[Staircase]] = {}
    for st in staircases(df, thresholds, axes, series, models):
        k = st.series.key
        groups.setdefault((k.get("device"), k.get("sweep"), k.get("runtime"), k.get("op"), k.get("dtype"),
                           st.series.axis), []).append(st)
    out = []
    for (device, sweep, runtime, op, dtype, axis), found in groups.items():
        confirmed = [s for s in found if s.verdict == CONFIRMED]
        verdict = CONFIRMED if confirmed else UNRESOLVED
        rep = max(confirmed or found, key=lambda s: s.magnitude)
        periods = Counter(fmt_axis_value(s.period) for s in confirmed if s.period is not None)
        biggest = max(rep.steps, key=lambda s: round(s.costs_more, 3))  # the first of equal steps
        at = ",".join(fmt_axis_value(s.at) for s in rep.steps)
        a, nx, end = (fmt_axis_value(v) for v in (biggest.at, biggest.next, biggest.upper_end))
        where = f"{op} ({rep.series.describe()})"
        noise = math.sqrt(rep.tau2) if np.isfinite(rep.tau2) else float("nan")
        shape = staircase_shape(axis, rep.period, [s.next for s in rep.steps])
        if verdict == UNRESOLVED:
            why = (f"the steps ({pct(biggest.costs_more)}) do not clear this run's noise floor "
                   f"({pct(rep.effect_floor)})" if rep.t >= rep.critical else
                   f"the evidence (t = {rep.t:.1f}) falls short of the {rep.critical:.1f} a claim needs with "
                   f"{pct(noise)} point-to-point scatter")
            message = (f"On {device}, {where} latency may step up {shape}, but {why}: unresolved at this noise "
                       f"level; re-measure (more rounds) to decide.")
        else:
            if rep.period is not None:
                p = fmt_axis_value(rep.period)
                tail = (f" Rounding {axis} down to a multiple of {p} saves up to "
                        f"{pct(max(s.saving for s in rep.steps))} of the latency.")
            else:
                tail = f" Rounding {axis} down to {a} from up to {end} saves {pct(biggest.saving)} of the latency."
            span = f"{nx}–{end}" if nx != end else nx
            message = (f"On {device}, {where} latency steps up {shape}: {nx} costs {pct(biggest.costs_more)} more "
                       f"than {a}; {span} cost about the same." + tail)
        jobs = [] if verdict == CONFIRMED else [j for s in found for j in s.series.jobs(s.confirm_idx)]
        evidence = {
            "op": op, "dtype": dtype, "runtime": runtime, "fixed_params": rep.series.fixed_params,
            "period": rep.period, "periods_seen": dict(periods), "series_with_steps": len(confirmed),
            "series_unresolved": len(found) - len(confirmed), "test": rep.model, "t": rep.t,
            "critical": rep.critical, "critical_unresolved": rep.critical_unresolved, "noise_rel": noise,
            "effect_floor": rep.effect_floor,
            "steps": [{"at": s.at, "next": s.next, "upper_end": s.upper_end, "latency_at_ms": s.latency_at_ms,
                       "latency_next_ms": s.latency_next_ms, "costs_more": s.costs_more, "saving": s.saving,
                       "resolved": s.resolved} for s in rep.steps],
            "model": ("latency = smooth(MACs) + b * ceil(x / P)" if rep.model == "periodic" else
                      "latency = smooth(MACs) + sum_j b_j [x > x_j], positions from a weighted L1 Potts fit"),
            "confirm_jobs": list(dict.fromkeys(jobs))[:MAX_CONFIRM_JOBS],
            "thresholds": {"step_min_rel": thresholds.step_min_rel, "step_max_drift": thresholds.step_max_drift,
                           "alpha": thresholds.alpha, "alpha_unresolved": thresholds.alpha_unresolved},
        }
        out.append(Anomaly(kind="staircase", device=str(device), sweep=str(sweep), axis=axis, at=at,
                           magnitude=rep.magnitude, finding="F1", message=message,
                           evidence_json=evidence_json(evidence), verdict=verdict))
    return out
