"""The smooth alternative along a series, and the series' own point-to-point scatter.

Every along-axis detector asks "is this more than a smooth curve plus noise?". The smooth curve
is latency affine in MACs, ``f = c0 + c1 * u`` (a fixed overhead plus a cost per MAC), with a
quadratic term ``c2 * u^2`` once the series has :data:`QUADRATIC_MIN_POINTS` points (a monotone
trend that bends, e.g. when a cache fills); ``u`` is MACs where they vary along the series,
else the axis value, scaled to [0, 1]. Fits are weighted least squares on relative errors with
the series' extra scatter ``tau`` (DerSimonian-Laird, :func:`suite.analysis.uncertainty.wls_fit`),
*moderated* towards the prior ``assumed_point_noise_rel`` with ``prior_dof`` degrees of freedom
(a short series cannot show its scatter; a long one overrides the prior). Test statistics then
use Student t quantiles with ``n - p + prior_dof`` degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suite.analysis.series import AxisSeries
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import Fit, refit, refit_many, wls_fit, wls_fit_many

#: Points a series needs before the smooth model bends (gets its quadratic term).
QUADRATIC_MIN_POINTS = 8


@dataclass(frozen=True)
class SeriesData:
    """The usable points of one series: axis ``x``, latency ``y`` (ms), relative variance ``v``
    of each headline, the cost regressor ``u`` scaled to [0, 1], and the index of each point in
    the series' arrays (``idx``)."""

    series: AxisSeries
    x: np.ndarray
    y: np.ndarray
    v: np.ndarray
    u: np.ndarray
    idx: np.ndarray

    @property
    def n(self) -> int:
        """Number of usable points."""
        return len(self.x)


def series_data(series: AxisSeries, max_points: int | None = None) -> SeriesData:
    """Points of ``series`` with a finite positive latency and a finite ``sigma`` (thinned
    evenly to ``max_points`` when longer)."""
    sigma = series.sigma if len(series.sigma) == len(series.x) else series.half_ms / (1.96 * series.latency_ms)
    ok = np.isfinite(series.latency_ms) & (series.latency_ms > 0) & np.isfinite(sigma)
    idx = np.flatnonzero(ok)
    if max_points is not None and len(idx) > max_points:
        idx = idx[np.unique(np.linspace(0, len(idx) - 1, max_points).round().astype(int))]
    x, y = series.x[idx].astype(float), series.latency_ms[idx].astype(float)
    macs = series.macs[idx].astype(float) if len(series.macs) == len(series.x) else np.full(len(idx), np.nan)
    u = macs if (len(idx) and np.isfinite(macs).all() and (macs > 0).all() and np.ptp(macs) > 0) else x
    span = np.ptp(u) if len(u) else 0.0
    u = (u - u.min()) / span if span > 0 else np.zeros_like(u)
    return SeriesData(series=series, x=x, y=y, v=np.maximum(sigma[idx].astype(float), 1e-4) ** 2, u=u, idx=idx)


def series_datas(series: list[AxisSeries], max_points: int | None = None) -> list[SeriesData]:
    """``[series_data(s, max_points) for s in series]``, the usable points and the scaled cost of
    every series found on their arrays laid end to end (one pass of numpy, reductions per series
    by ``reduceat``); series to thin, with no usable point or with arrays of other lengths go
    one by one. The values are the same to the bit."""
    out: list[SeriesData | None] = [None] * len(series)
    batch = [i for i, s in enumerate(series) if len(s.x) and len(s.sigma) == len(s.x) == len(s.macs)]
    if batch:
        lens = np.array([len(series[i].x) for i in batch])
        y_all = np.concatenate([series[i].latency_ms for i in batch]).astype(float)
        s_all = np.concatenate([series[i].sigma for i in batch]).astype(float)
        ok = np.isfinite(y_all) & (y_all > 0) & np.isfinite(s_all)
        starts = np.cumsum(lens) - lens
        counts = np.add.reduceat(ok.astype(np.int64), starts)
        keep = (counts > 0) & (max_points is None or counts <= max_points)
        ok &= np.repeat(keep, lens)
        group = np.repeat(np.arange(len(batch)), lens)[ok]
        local = (np.arange(len(ok)) - np.repeat(starts, lens))[ok]
        x = np.concatenate([series[i].x for i in batch]).astype(float)[ok]
        m = np.concatenate([series[i].macs for i in batch]).astype(float)[ok]
        y, sig = y_all[ok], s_all[ok]
        counts = np.where(keep, counts, 0)
        first = np.cumsum(counts) - counts
        at = first[keep]
        good = np.add.reduceat((np.isfinite(m) & (m > 0)).astype(np.int64), at) == counts[keep]
        good &= np.maximum.reduceat(m, at) - np.minimum.reduceat(m, at) > 0
        g = np.searchsorted(np.flatnonzero(keep), group)
        u = np.where(good[g], m, x)
        low = np.minimum.reduceat(u, at)
        span = np.maximum.reduceat(u, at) - low
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(span[g] > 0, (u - low[g]) / span[g], 0.0)
        v = np.maximum(sig, 1e-4) ** 2
        for k, b in enumerate(np.flatnonzero(keep).tolist()):
            a, e = int(at[k]), int(at[k] + counts[b])
            out[batch[b]] = SeriesData(series=series[batch[b]], x=x[a:e], y=y[a:e], v=v[a:e], u=u[a:e],
                                       idx=local[a:e])
    return [d if d is not None else series_data(s, max_points) for s, d in zip(series, out, strict=True)]


def smooth_design(data: SeriesData) -> np.ndarray:
    """Columns of the smooth model: ``1, u`` and, with enough points, ``u^2``."""
    cols = [np.ones(data.n), data.u]
    if data.n >= QUADRATIC_MIN_POINTS:
        cols.append(data.u**2)
    return np.column_stack(cols)


def moderated_fit(X: np.ndarray, data: SeriesData, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                  rows: np.ndarray | None = None, *, log: bool = False) -> tuple[Fit, float] | None:
    """Fit ``X`` to the series with its moderated scatter; returns the fit and the degrees of
    freedom for t quantiles (``n - p + prior_dof``). ``rows`` restricts the fit to some points
    (leave-out refits); ``log`` fits ``log(latency)`` instead of latency (multiplicative
    effects; ``fitted`` is then in log units)."""
    y, v = (np.log(data.y) if log else data.y), data.v
    if rows is not None:
        X, y, v = X[rows], y[rows], v[rows]
    raw = wls_fit(X, y, v, relative=not log)
    if raw is None:
        return None
    d0 = thresholds.prior_dof
    tau2 = (d0 * thresholds.assumed_point_noise_rel**2 + raw.dof * raw.tau2) / (d0 + raw.dof)
    fit = refit(X, y, v, raw, tau2, relative=not log)
    if fit is None:
        return None
    return fit, raw.dof + d0


def moderated_fit_many(X: np.ndarray, datas: list[SeriesData], thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                       log: bool = False) -> list[tuple[Fit, float] | None]:
    """``moderated_fit(X[k], datas[k], thresholds, log=log)`` for a stack of designs of one
    shape ``X`` (S, n, p) over series of ``n`` usable points: the robust fits and their
    refits each as one stack (:func:`~suite.analysis.uncertainty.wls_fit_many`)."""
    y = np.stack([np.log(d.y) if log else d.y for d in datas])
    v = np.stack([d.v for d in datas])
    raws = wls_fit_many(X, y, v, relative=not log)
    d0 = thresholds.prior_dof
    tau2 = np.array([(d0 * thresholds.assumed_point_noise_rel**2 + raw.dof * raw.tau2) / (d0 + raw.dof)
                     if raw is not None else 0.0 for raw in raws])
    fits = refit_many(X, y, v, raws, tau2, relative=not log)
    return [(fit, raw.dof + d0) if fit is not None and raw is not None else None
            for fit, raw in zip(fits, raws, strict=True)]
