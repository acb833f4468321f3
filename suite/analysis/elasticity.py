"""Cost mismatch (finding F4): latency that does not scale like MACs along an axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    Z95,
    AxisSeries,
    all_axis_series,
    axis_words,
    fmt_axis_value,
    timed,
)
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds


@dataclass(frozen=True)
class Elasticity:
    """Slope of log(latency) on log(MACs) for one series, with its standard error."""

    series: AxisSeries
    slope: float
    stderr: float
    mac_ratio: float
    latency_ratio: float

    def verdict(self, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> str:
        """``"below"``, ``"above"`` or ``"ok"``: whether the 95 % interval clears a threshold."""
        if self.slope + Z95 * self.stderr < thresholds.elasticity_low:
            return "below"
        if self.slope - Z95 * self.stderr > thresholds.elasticity_high:
            return "above"
        return "ok"


def elasticity(series: AxisSeries, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Elasticity | None:
    """Fit ``log(latency_ms) = a + e * log(macs)`` by weighted least squares.

    Weights are ``1 / sigma^2`` with ``sigma = h / (1.96 * latency)``, the CI half-width in log
    units. The standard error of ``e`` is the larger of the known-variance one and the
    residual-based one, so a curved series is not over-trusted. Returns ``None`` when fewer
    than three points have MACs > 0 and a CI, or MACs span less than ``elasticity_min_mac_ratio``.

    ``e = 1``: latency proportional to MACs. ``e < elasticity_low`` (0.5): MACs overstate the
    cost of growing the axis. ``e > elasticity_high`` (1.5): latency grows faster than MACs.
    """
    macs, lat, h = series.macs, series.latency_ms, series.half_ms
    ok = np.isfinite(macs) & (macs > 0) & np.isfinite(h) & np.isfinite(lat) & (lat > 0)
    if ok.sum() < 3:
        return None
    x, y = np.log(macs[ok]), np.log(lat[ok])
    if x.max() - x.min() < np.log(thresholds.elasticity_min_mac_ratio):
        return None
    sigma = np.maximum(h[ok] / (Z95 * lat[ok]), 1e-4)
    w = 1.0 / sigma**2
    xm = np.sum(w * x) / np.sum(w)
    ym = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (y - ym)) / sxx
    resid = y - ym - slope * (x - xm)
    dof = max(1, len(x) - 2)
    se_known = np.sqrt(1.0 / sxx)
    se_resid = np.sqrt(np.sum(w * resid**2) / dof / sxx)
    return Elasticity(series=series, slope=float(slope), stderr=float(max(se_known, se_resid)),
                      mac_ratio=float(np.exp(x.max() - x.min())),
                      latency_ratio=float(lat[ok][np.argmax(x)] / lat[ok][np.argmin(x)]))


def elasticity_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                     axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> pd.DataFrame:
    """One row per series (3+ points) where MACs vary: place, axis, series, slope, stderr, verdict.

    ``series`` (from :func:`~suite.analysis.series.all_axis_series`) skips building them again.
    """
    if series is None:
        series = all_axis_series(timed(df), 3, axes)
    rows = []
    for s in series:
        e = elasticity(s, thresholds)
        if e is None:
            continue
        k = s.key
        rows.append({"device": k.get("device"), "sweep": k.get("sweep"), "runtime": k.get("runtime"),
                     "op": k.get("op"), "dtype": k.get("dtype"), "axis": s.axis, "series": s.describe(),
                     "elasticity": e.slope, "stderr": e.stderr, "mac_ratio": e.mac_ratio,
                     "latency_ratio": e.latency_ratio, "verdict": e.verdict(thresholds), "_e": e})
    cols = ["device", "sweep", "runtime", "op", "dtype", "axis", "series", "elasticity", "stderr", "mac_ratio",
            "latency_ratio", "verdict", "_e"]
    return pd.DataFrame(rows, columns=cols)


def find_cost_mismatch(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                       axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> list[Anomaly]:
    """F4 anomalies, one per (device, sweep, op, dtype, axis, direction) with a mismatched series.

    Magnitude is ``|1 - e|`` of the most extreme series. See :func:`elasticity` for the model.
    """
    frame = elasticity_frame(df, thresholds, axes, series)
    frame = frame[frame["verdict"] != "ok"]
    out = []
    keys = ["device", "sweep", "runtime", "op", "dtype", "axis", "verdict"]
    for (device, sweep, runtime, op, dtype, axis, verdict), group in frame.groupby(keys, sort=True, dropna=False):
        worst = group.loc[(group["elasticity"] - 1).abs().idxmax()]
        e: Elasticity = worst["_e"]
        s = e.series
        lo, hi = fmt_axis_value(s.x[0]), fmt_axis_value(s.x[-1])
        if verdict == "below":
            advice = f"MACs overstate the cost of larger {axis_words(axis)}"
        else:
            advice = f"MACs understate the cost of larger {axis_words(axis)}"
        message = (f"On {device}, {op} ({s.describe()}) latency grows {e.latency_ratio:.2g}x while MACs grow "
                   f"{e.mac_ratio:.2g}x from {axis} {lo} to {hi} (elasticity {e.slope:.2f} ± {Z95 * e.stderr:.2f}); "
                   f"{advice} on this device.")
        evidence = {"op": op, "dtype": dtype, "runtime": runtime, "fixed_params": s.fixed_params,
                    "elasticity": e.slope, "stderr": e.stderr, "mac_ratio": e.mac_ratio,
                    "latency_ratio": e.latency_ratio, "series_affected": int(len(group)),
                    "points": [{"x": float(x), "macs": float(m), "latency_ms": float(t)}
                               for x, m, t in zip(s.x, s.macs, s.latency_ms, strict=True)][:64],
                    "thresholds": {"elasticity_low": thresholds.elasticity_low,
                                   "elasticity_high": thresholds.elasticity_high}}
        out.append(Anomaly(kind="cost_mismatch", device=str(device), sweep=str(sweep), axis=axis, at=verdict,
                           magnitude=min(abs(1.0 - e.slope), 10.0), finding="F4", message=message,
                           evidence_json=evidence_json(evidence)))
    return out
