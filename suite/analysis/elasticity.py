"""Cost mismatch (finding F4): latency that does not scale like MACs along an axis."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    AxisSeries,
    all_axis_series,
    axis_words,
    effect_floor,
    fmt_axis_value,
    timed,
)
from suite.analysis.steps import MAX_CONFIRM_JOBS
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.trend import series_data
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, critical


@dataclass(frozen=True)
class Elasticity:
    """Slope of log(latency) on log(MACs) for one series, with its standard error.

    ``dof`` is the degrees of freedom of ``stderr`` (t quantiles); ``noise_rel`` the series'
    point-to-point scatter; ``floor`` the smallest latency mismatch (relative) a claim needs.
    """

    series: AxisSeries
    slope: float
    stderr: float
    mac_ratio: float
    latency_ratio: float
    dof: float = float("inf")
    noise_rel: float = float("nan")
    floor: float = 0.0

    def verdict(self, thresholds: Thresholds = DEFAULT_THRESHOLDS, m: int = 1) -> str:
        """``"below"``, ``"above"``, ``"unresolved-below"``, ``"unresolved-above"`` or ``"ok"``.

        ``below``/``above``: the slope's two-sided interval at family-wise ``alpha`` over ``m``
        series excludes ``elasticity_low``/``elasticity_high`` and the latency it implies over
        the series' MAC range is off the threshold's by more than the noise floor. The
        ``unresolved-`` forms: the interval at ``alpha_unresolved`` clears the threshold (or the
        mismatch is below the floor) but the ``alpha`` one does not.
        """
        out = self._side(thresholds, critical(thresholds.alpha / 2, m, self.dof))
        if out != "ok" and self._beyond_floor(thresholds, out):
            return out
        weak = self._side(thresholds, critical(thresholds.alpha_unresolved / 2, m, self.dof))
        return f"unresolved-{weak}" if weak != "ok" else "ok"

    def _side(self, thresholds: Thresholds, crit: float) -> str:
        if self.slope + crit * self.stderr < thresholds.elasticity_low:
            return "below"
        if self.slope - crit * self.stderr > thresholds.elasticity_high:
            return "above"
        return "ok"

    def _beyond_floor(self, thresholds: Thresholds, side: str) -> bool:
        limit = thresholds.elasticity_low if side == "below" else thresholds.elasticity_high
        mismatch = abs(self.slope - limit) * math.log(self.mac_ratio)
        return mismatch >= math.log1p(self.floor)


def elasticity(series: AxisSeries, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Elasticity | None:
    """Fit ``log(latency_ms) = a + e * log(macs)`` by weighted least squares on honest noise.

    Each point's variance is its between-round ``sigma^2`` plus the series' scatter ``tau^2``
    (DerSimonian-Laird, moderated towards ``assumed_point_noise_rel``; see :func:`_line`), so a
    series that curves or scatters is not over-trusted; ``stderr`` comes from that fit, with
    ``n - 2 + prior_dof`` degrees of freedom. Returns
    ``None`` when fewer than three points have MACs > 0, or MACs span less than
    ``elasticity_min_mac_ratio``.

    ``e = 1``: latency proportional to MACs. ``e < elasticity_low`` (0.5): MACs overstate the
    cost of growing the axis. ``e > elasticity_high`` (1.5): latency grows faster than MACs.
    """
    data = series_data(series)
    macs = series.macs[data.idx] if len(series.macs) == len(series.x) else np.full(data.n, np.nan)
    ok = np.isfinite(macs) & (macs > 0)
    if ok.sum() < 3:
        return None
    x = np.log(macs[ok])
    if x.max() - x.min() < np.log(thresholds.elasticity_min_mac_ratio):
        return None
    y, v = np.log(data.y[ok]), data.v[ok]
    fit = _line(x, y, v, thresholds)
    if fit is None:
        return None
    slope, stderr, tau2, dof = fit
    lat = data.y[ok]
    return Elasticity(series=series, slope=slope, stderr=stderr, mac_ratio=float(np.exp(x.max() - x.min())),
                      latency_ratio=float(lat[np.argmax(x)] / lat[np.argmin(x)]), dof=dof,
                      noise_rel=math.sqrt(tau2), floor=effect_floor(series.floor, 0.0))


def _line(x: np.ndarray, y: np.ndarray, v: np.ndarray, thresholds: Thresholds) -> tuple[float, float, float, float] | None:
    """Weighted line ``y = a + e x`` with per-point variance ``v + tau2`` in closed form:
    ``tau2`` the DerSimonian-Laird moment estimate moderated towards ``assumed_point_noise_rel``
    (as :func:`suite.analysis.trend.moderated_fit`, without its robust weights); returns the
    slope, its standard error, ``tau2`` and the degrees of freedom ``n - 2 + prior_dof``."""
    n = len(x)
    if n < 3:
        return None

    def solve(w: np.ndarray) -> tuple[float, float, float, float, float, float] | None:
        sw, sx, sy = w.sum(), (w * x).sum(), (w * y).sum()
        sxx, sxy = (w * x * x).sum(), (w * x * y).sum()
        det = sw * sxx - sx * sx
        if det <= 1e-12 * sw * sxx:
            return None
        slope = (sw * sxy - sx * sy) / det
        return slope, (sy - slope * sx) / sw, sw, sx, sxx, det

    w0 = 1.0 / v
    first = solve(w0)
    if first is None:
        return None
    slope, icpt, sw, sx, sxx, det = first
    q = float(np.sum(w0 * (y - icpt - slope * x) ** 2))
    s2, s2x, s2xx = (w0 * w0).sum(), (w0 * w0 * x).sum(), (w0 * w0 * x * x).sum()
    trace = sw - (sxx * s2 - 2 * sx * s2x + sw * s2xx) / det  # tr(W) - tr((X'WX)^-1 X'W^2X)
    raw = max(0.0, (q - (n - 2)) / trace) if trace > 0 else 0.0
    d0 = thresholds.prior_dof
    tau2 = (d0 * thresholds.assumed_point_noise_rel**2 + (n - 2) * raw) / (d0 + n - 2)
    final = solve(1.0 / (v + tau2))
    if final is None:
        return None
    slope, _, sw, _, _, det = final
    return float(slope), float(math.sqrt(sw / det)), float(tau2), float(n - 2 + d0)


def elasticities(series: list[AxisSeries], thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Elasticity | None]:
    """:func:`elasticity` of every series, computed for all of them at once.

    The same model and the same arithmetic: the usable points of all series are concatenated,
    series with the same number of usable points are laid out as the rows of one matrix and
    every sum of :func:`_line` is a row sum, so the figures equal :func:`elasticity`'s (tests
    hold the two side by side) while the work is a few dozen numpy calls for tens of thousands
    of series.
    """
    out: list[Elasticity | None] = [None] * len(series)
    if not series:
        return out
    lengths = np.fromiter((len(s.x) for s in series), dtype=np.int64, count=len(series))
    lat = np.concatenate([s.latency_ms for s in series]).astype(float)
    sigma = np.concatenate([s.sigma if len(s.sigma) == len(s.x) else s.half_ms / (1.96 * s.latency_ms)
                            for s in series]).astype(float)
    macs = np.concatenate([s.macs if len(s.macs) == len(s.x) else np.full(len(s.x), np.nan)
                           for s in series]).astype(float)
    seg = np.repeat(np.arange(len(series)), lengths)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(lat) & (lat > 0) & np.isfinite(sigma) & np.isfinite(macs) & (macs > 0)
    seg, lat, macs = seg[ok], lat[ok], macs[ok]
    v = np.maximum(sigma[ok], 1e-4) ** 2
    count = np.bincount(seg, minlength=len(series))
    first = np.r_[0, np.cumsum(count)[:-1]]
    d0, prior = thresholds.prior_dof, thresholds.assumed_point_noise_rel**2
    min_span = np.log(thresholds.elasticity_min_mac_ratio)
    for n in np.unique(count[count >= 3]).tolist():
        which = np.flatnonzero(count == n)
        at = first[which][:, None] + np.arange(n)[None, :]
        x, y, vv, lt = np.log(macs[at]), np.log(lat[at]), v[at], lat[at]
        keep = x.max(axis=1) - x.min(axis=1) >= min_span
        which, x, y, vv, lt = which[keep], x[keep], y[keep], vv[keep], lt[keep]
        fit = _lines(x, y, vv, d0, prior)
        if fit is None:
            continue
        slope, stderr, tau2, good = fit
        imax, imin = np.argmax(x, axis=1), np.argmin(x, axis=1)
        rows = np.arange(len(which))
        mac_ratio = np.exp(x.max(axis=1) - x.min(axis=1))
        lat_ratio = lt[rows, imax] / lt[rows, imin]
        for r in np.flatnonzero(good).tolist():
            s = series[int(which[r])]
            out[int(which[r])] = Elasticity(series=s, slope=float(slope[r]), stderr=float(stderr[r]),
                                            mac_ratio=float(mac_ratio[r]), latency_ratio=float(lat_ratio[r]),
                                            dof=float(n - 2 + d0), noise_rel=math.sqrt(float(tau2[r])),
                                            floor=effect_floor(s.floor, 0.0))
    return out


def _lines(x: np.ndarray, y: np.ndarray, v: np.ndarray, d0: float, prior: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_line` on every row of ``x``, ``y``, ``v`` (``(S, n)``); returns the slopes, their
    standard errors, ``tau2`` and which rows have a fit."""
    S, n = x.shape
    if S == 0:
        return None

    def solve(w: np.ndarray) -> tuple[np.ndarray, ...]:
        sw, sx, sy = w.sum(axis=1), (w * x).sum(axis=1), (w * y).sum(axis=1)
        sxx, sxy = (w * x * x).sum(axis=1), (w * x * y).sum(axis=1)
        det = sw * sxx - sx * sx
        good = ~(det <= 1e-12 * sw * sxx)
        safe = np.where(good, det, 1.0)
        slope = (sw * sxy - sx * sy) / safe
        return slope, (sy - slope * sx) / sw, sw, sx, sxx, safe, good

    w0 = 1.0 / v
    slope, icpt, sw, sx, sxx, det, good = solve(w0)
    q = np.sum(w0 * (y - icpt[:, None] - slope[:, None] * x) ** 2, axis=1)
    s2, s2x, s2xx = (w0 * w0).sum(axis=1), (w0 * w0 * x).sum(axis=1), (w0 * w0 * x * x).sum(axis=1)
    trace = sw - (sxx * s2 - 2 * sx * s2x + sw * s2xx) / det
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(trace > 0, np.maximum(0.0, (q - (n - 2)) / np.where(trace > 0, trace, 1.0)), 0.0)
    tau2 = (d0 * prior + (n - 2) * raw) / (d0 + n - 2)
    slope, _, sw, _, _, det, good2 = solve(1.0 / (v + tau2[:, None]))
    return slope, np.sqrt(sw / det), tau2, good & good2


def elasticity_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                     axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> pd.DataFrame:
    """One row per series (3+ points) where MACs vary: place, axis, series, slope, stderr, verdict.

    ``verdict`` applies Bonferroni over the series of each (place, axis) group.
    ``series`` (from :func:`~suite.analysis.series.all_axis_series`) skips building them again.
    """
    if series is None:
        series = all_axis_series(timed(df, thresholds), 3, axes)
    fits = [(s, e, _group(s)) for s, e in zip(series, elasticities(series, thresholds), strict=True)
            if e is not None]
    cols = ["device", "sweep", "runtime", "op", "dtype", "axis", "series", "elasticity", "stderr", "mac_ratio",
            "latency_ratio", "verdict", "tests", "_e"]
    if not fits:
        return pd.DataFrame(columns=cols)
    counts = Counter(g for _, _, g in fits)
    labels: dict[tuple, str] = {}  # series of many devices share their label: describe each once
    series_labels = []
    for s, _, _ in fits:
        label_key = (s.axis, tuple((c, str(v)) for c, v in s.key.items() if c != "device"))
        label = labels.get(label_key)
        if label is None:
            label = labels[label_key] = s.describe()
        series_labels.append(label)
    # a series' group is its place and axis: the first six columns
    place = dict(zip(cols[:6], (list(c) for c in zip(*(g for _, _, g in fits), strict=True)), strict=True))
    tests = [counts[g] for _, _, g in fits]
    return pd.DataFrame({**place, "series": series_labels, "elasticity": [e.slope for _, e, _ in fits],
                         "stderr": [e.stderr for _, e, _ in fits], "mac_ratio": [e.mac_ratio for _, e, _ in fits],
                         "latency_ratio": [e.latency_ratio for _, e, _ in fits],
                         "verdict": [e.verdict(thresholds, m) for (_, e, _), m in zip(fits, tests, strict=True)],
                         "tests": tests, "_e": [e for _, e, _ in fits]}, columns=cols)


def _group(s: AxisSeries) -> tuple:
    k = s.key
    return (k.get("device"), k.get("sweep"), k.get("runtime"), k.get("op"), k.get("dtype"), s.axis)


def find_cost_mismatch(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                       axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> list[Anomaly]:
    """F4 anomalies, one per (device, sweep, op, dtype, axis, direction) with a mismatched series.

    ``confirmed`` when some series' verdict is ``below``/``above``, ``unresolved`` when only
    ``unresolved-`` verdicts point that way. Magnitude is ``|1 - e|`` of the most extreme
    series. See :func:`elasticity` and :meth:`Elasticity.verdict` for the model.
    """
    frame = elasticity_frame(df, thresholds, axes, series)
    frame = frame[frame["verdict"] != "ok"]
    if frame.empty:
        return []
    frame = frame.assign(direction=frame["verdict"].str.replace("unresolved-", "", regex=False),
                         resolved=~frame["verdict"].str.startswith("unresolved"))
    out = []
    keys = ["device", "sweep", "runtime", "op", "dtype", "axis", "direction"]
    for (device, sweep, runtime, op, dtype, axis, direction), group in frame.groupby(keys, sort=True, dropna=False):
        verdict = CONFIRMED if group["resolved"].any() else UNRESOLVED
        pool = group[group["resolved"]] if verdict == CONFIRMED else group
        worst = (pool["elasticity"] - 1).abs().idxmax()
        e: Elasticity = pool.at[worst, "_e"]
        s = e.series
        lo, hi = fmt_axis_value(s.x[0]), fmt_axis_value(s.x[-1])
        if direction == "below":
            advice = f"MACs overstate the cost of larger {axis_words(axis)}"
        else:
            advice = f"MACs understate the cost of larger {axis_words(axis)}"
        crit = critical(thresholds.alpha / 2, int(pool.at[worst, "tests"]), e.dof)
        message = (f"On {device}, {op} ({s.describe()}) latency grows {e.latency_ratio:.2g}x while MACs grow "
                   f"{e.mac_ratio:.2g}x from {axis} {lo} to {hi} (elasticity {e.slope:.2f} ± {crit * e.stderr:.2f}); ")
        message += (f"{advice} on this device." if verdict == CONFIRMED else
                    f"{advice}, perhaps, but not beyond the noise: unresolved at this noise level.")
        jobs = [] if verdict == CONFIRMED else [j for ee in group["_e"] for j in ee.series.jobs()]
        evidence = {"op": op, "dtype": dtype, "runtime": runtime, "fixed_params": s.fixed_params,
                    "elasticity": e.slope, "stderr": e.stderr, "dof": e.dof, "noise_rel": e.noise_rel,
                    "mac_ratio": e.mac_ratio, "latency_ratio": e.latency_ratio, "effect_floor": e.floor,
                    "series_affected": int(group["resolved"].sum()),
                    "series_unresolved": int((~group["resolved"]).sum()),
                    "points": [{"x": float(x), "macs": float(m), "latency_ms": float(t)}
                               for x, m, t in zip(s.x, s.macs, s.latency_ms, strict=True)][:64],
                    "confirm_jobs": list(dict.fromkeys(jobs))[:MAX_CONFIRM_JOBS],
                    "thresholds": {"elasticity_low": thresholds.elasticity_low,
                                   "elasticity_high": thresholds.elasticity_high, "alpha": thresholds.alpha}}
        out.append(Anomaly(kind="cost_mismatch", device=str(device), sweep=str(sweep), axis=axis, at=direction,
                           magnitude=min(abs(1.0 - e.slope), 10.0), finding="F4", message=message,
                           evidence_json=evidence_json(evidence), verdict=verdict))
    return out
