"""Staircase detection (finding F1): latency that is flat, then jumps, along a numeric axis.

The fit is a weighted L1 Potts model solved exactly by dynamic programming. The model is the
one asv uses to find steps in benchmark history (``asv/step_detect.py``, "solve_potts"); this
is an independent implementation applied to latency vs an op parameter (channels, resolution)
instead of latency vs commit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    AxisSeries,
    all_axis_series,
    axis_words,
    fmt_axis_value,
    pct,
    timed,
)
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds

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
    """One accepted step: latency jumps between axis values ``at`` and ``next``.

    ``costs_more`` is ``latency(next) / latency(at) - 1``; ``saving`` is what rounding the
    axis down from the upper segment to ``at`` saves, ``1 - latency(at) / latency(next)``;
    ``upper_end`` is the last axis value of the flat segment that starts at ``next``.
    """

    at: float
    next: float
    upper_end: float
    latency_at_ms: float
    latency_next_ms: float
    costs_more: float
    saving: float


@dataclass(frozen=True)
class Staircase:
    """Steps found in one series, and their period when regular (``None`` otherwise)."""

    series: AxisSeries
    steps: tuple[Step, ...]
    period: float | None

    @property
    def magnitude(self) -> float:
        return max(s.costs_more for s in self.steps)


def find_steps(series: AxisSeries, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Staircase | None:
    """Steps in one series, or ``None`` when it has none.

    Model: latency is piecewise constant in the axis; the fit is :func:`solve_potts_l1` with
    weights ``1 / h`` (``h`` = CI half-width of each median, floored at 0.1 % of the latency)
    and penalty ``thresholds.step_penalty * log(n)`` CI units per segment. Boundaries are then
    kept only if they are real steps:

    1. the boundary points differ beyond both CIs and by at least ``step_min_rel`` upward
       (others are merged back: they are noise, or a drop, which :mod:`monotonic` reports);
    2. both merged segments beside it have at least two points and are flat: their
       least-squares rise over their span is at most ``step_max_drift`` times the step
       (a smooth ramp fitted by many segments fails this).

    Points without a CI are ignored (no claim can be made about them). A staircase whose
    period equals the sampling interval cannot be told from a ramp and is not reported.
    """
    ok = np.isfinite(series.half_ms) & np.isfinite(series.latency_ms)
    x, y, h = series.x[ok], series.latency_ms[ok], series.half_ms[ok]
    if len(x) > MAX_POTTS_POINTS:
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_POTTS_POINTS).round().astype(int))
        x, y, h = x[keep], y[keep], h[keep]
    n = len(x)
    if n < thresholds.min_series_points:
        return None
    # every accepted step is a significant rise between neighbours: without one, skip the fit
    rise = y[1:] - y[:-1]
    if not np.any((rise > h[1:] + h[:-1]) & (rise >= thresholds.step_min_rel * y[:-1])):
        return None
    h_floor = np.maximum(h, 1e-3 * np.abs(y)) + 1e-12
    ends = solve_potts_l1(y, 1.0 / h_floor, thresholds.step_penalty * math.log(n))
    # 1. keep only significant upward boundaries
    kept = []
    for end in ends[:-1]:
        lo, hi = end - 1, end
        jump = y[hi] - y[lo]
        if jump > h[lo] + h[hi] and jump >= thresholds.step_min_rel * y[lo]:
            kept.append(end)
    bounds = [0, *kept, n]
    # 2. flat segments on both sides, at least two points each
    steps = []
    for k in range(1, len(bounds) - 1):
        a, b, c = bounds[k - 1], bounds[k], bounds[k + 1]
        if b - a < 2 or c - b < 2:
            continue
        jump = y[b] - y[b - 1]
        if _drift(x[a:b], y[a:b]) > thresholds.step_max_drift * jump:
            continue
        if _drift(x[b:c], y[b:c]) > thresholds.step_max_drift * jump:
            continue
        steps.append(Step(at=float(x[b - 1]), next=float(x[b]), upper_end=float(x[c - 1]),
                          latency_at_ms=float(y[b - 1]), latency_next_ms=float(y[b]),
                          costs_more=float(jump / y[b - 1]), saving=float(jump / y[b])))
    if not steps:
        return None
    return Staircase(series=series, steps=tuple(steps), period=step_period([s.at for s in steps], thresholds))


def _drift(x: np.ndarray, y: np.ndarray) -> float:
    """Absolute least-squares rise of ``y`` over the span of ``x``."""
    if len(x) < 2 or x[-1] == x[0]:
        return 0.0
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    return abs(slope) * float(x[-1] - x[0])


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


def staircases(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
               axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> list[Staircase]:
    """Every staircase in ``df``, series by series, along ``axes`` (default: all numeric params).

    ``series`` (from :func:`~suite.analysis.series.all_axis_series`) skips building them again.
    """
    if series is None:
        series = all_axis_series(timed(df), thresholds.min_series_points, axes)
    found = []
    for s in series:
        if len(s.x) >= thresholds.min_series_points:
            stair = find_steps(s, thresholds)
            if stair is not None:
                found.append(stair)
    return found


def staircase_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                    axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> pd.DataFrame:
    """One row per series with steps: place, axis, fixed params, positions, period, largest step."""
    rows = []
    for st in staircases(df, thresholds, axes, series):
        k = st.series.key
        rows.append({"device": k.get("device"), "sweep": k.get("sweep"), "runtime": k.get("runtime"),
                     "op": k.get("op"), "dtype": k.get("dtype"), "axis": st.series.axis,
                     "series": st.series.describe(), "steps_at": ",".join(fmt_axis_value(s.at) for s in st.steps),
                     "period": st.period if st.period is not None else float("nan"), "max_step": st.magnitude,
                     "max_saving": max(s.saving for s in st.steps)})
    cols = ["device", "sweep", "runtime", "op", "dtype", "axis", "series", "steps_at", "period", "max_step",
            "max_saving"]
    return pd.DataFrame(rows, columns=cols)


def find_staircases(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                    axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> list[Anomaly]:
    """F1 anomalies: one per (device, sweep, runtime, op, dtype, axis) with steps.

    The message describes the series with the largest step; evidence lists how many series
    showed steps, their periods, and the steps of the representative series.
    """
    groups: dict[tuple, list[Staircase]] = {}
    for st in staircases(df, thresholds, axes, series):
        k = st.series.key
        groups.setdefault((k.get("device"), k.get("sweep"), k.get("runtime"), k.get("op"), k.get("dtype"),
                           st.series.axis), []).append(st)
    out = []
    for (device, sweep, runtime, op, dtype, axis), found in groups.items():
        rep = max(found, key=lambda s: s.magnitude)
        periods = Counter(fmt_axis_value(s.period) for s in found if s.period is not None)
        biggest = max(rep.steps, key=lambda s: s.costs_more)
        at = ",".join(fmt_axis_value(s.at) for s in rep.steps)
        a, nx, end = (fmt_axis_value(v) for v in (biggest.at, biggest.next, biggest.upper_end))
        where = f"{op} ({rep.series.describe()})"
        if rep.period is not None:
            p = fmt_axis_value(rep.period)
            head = f"On {device}, {where} latency rises in steps of {p} {axis_words(axis)}"
            tail = (f" Rounding {axis} down to a multiple of {p} saves up to {pct(max(s.saving for s in rep.steps))}"
                    f" of the latency.")
        else:
            head = f"On {device}, {where} latency jumps at {axis} = {at.replace(',', ', ')}"
            tail = f" Rounding {axis} down to {a} from up to {end} saves {pct(biggest.saving)} of the latency."
        span = f"{nx}–{end}" if nx != end else nx
        message = (f"{head}: {nx} costs {pct(biggest.costs_more)} more than {a}; {span} cost about the same."
                   + tail)
        evidence = {
            "op": op, "dtype": dtype, "runtime": runtime, "fixed_params": rep.series.fixed_params,
            "period": rep.period, "periods_seen": dict(periods), "series_with_steps": len(found),
            "steps": [{"at": s.at, "next": s.next, "upper_end": s.upper_end, "latency_at_ms": s.latency_at_ms,
                       "latency_next_ms": s.latency_next_ms, "costs_more": s.costs_more, "saving": s.saving}
                      for s in rep.steps],
            "model": "weighted L1 Potts, weights 1/CI half-width",
            "thresholds": {"step_min_rel": thresholds.step_min_rel, "step_max_drift": thresholds.step_max_drift},
        }
        out.append(Anomaly(kind="staircase", device=str(device), sweep=str(sweep), axis=axis, at=at,
                           magnitude=rep.magnitude, finding="F1", message=message,
                           evidence_json=evidence_json(evidence)))
    return out
