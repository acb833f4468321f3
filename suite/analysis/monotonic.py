"""Non-monotonic latency vs cost: a point with more MACs that runs significantly faster."""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    AxisSeries,
    all_axis_series,
    axis_words,
    fmt_axis_value,
    pct,
    significantly_greater,
    timed,
)
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds


def worst_dip(series: AxisSeries, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict | None:
    """The pair (cheap, costly) of one series with the largest significant latency drop.

    Model: for every pair with ``macs_costly >= dip_min_mac_ratio * macs_cheap``, the drop is
    ``1 - latency_costly / latency_cheap``. A pair counts when the cheap point is slower beyond
    both CIs (``lat_cheap - h_cheap > lat_costly + h_costly``) and the drop is at least
    ``dip_min_rel``. Returns ``None`` when no pair counts, else a dict with both points, the
    drop and the number of counting pairs.
    """
    macs, lat, h = series.macs, series.latency_ms, series.half_ms
    if not np.isfinite(macs).any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        costlier = macs[None, :] >= thresholds.dip_min_mac_ratio * macs[:, None]  # [i, j]: j costs more than i
        slower = significantly_greater(lat[:, None], h[:, None], lat[None, :], h[None, :])  # i slower than j
        drop = 1.0 - lat[None, :] / lat[:, None]
    hits = costlier & slower & (drop >= thresholds.dip_min_rel)
    if not hits.any():
        return None
    i, j = np.unravel_index(np.argmax(np.where(hits, drop, -np.inf)), drop.shape)
    return {"cheap": float(series.x[i]), "costly": float(series.x[j]), "cheap_ms": float(lat[i]),
            "costly_ms": float(lat[j]), "cheap_macs": float(macs[i]), "costly_macs": float(macs[j]),
            "drop": float(drop[i, j]), "pairs": int(hits.sum())}


def find_non_monotonic(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                       axes: list[str] | None = None, series: list[AxisSeries] | None = None) -> list[Anomaly]:
    """Anomalies where more MACs run significantly faster, one per (device, sweep, op, dtype, axis).

    See :func:`worst_dip` for the model and thresholds; the worst series is described.
    ``series`` (from :func:`~suite.analysis.series.all_axis_series`) skips building them again.
    """
    if series is None:
        series = all_axis_series(timed(df), thresholds.min_series_points, axes)
    best: dict[tuple, tuple[AxisSeries, dict, int]] = {}
    for s in series:
        if len(s.x) < thresholds.min_series_points:
            continue
        dip = worst_dip(s, thresholds)
        if dip is None:
            continue
        k = s.key
        gk = (k.get("device"), k.get("sweep"), k.get("runtime"), k.get("op"), k.get("dtype"), s.axis)
        prev = best.get(gk)
        count = 1 + (prev[2] if prev else 0)
        if prev is None or dip["drop"] > prev[1]["drop"]:
            best[gk] = (s, dip, count)
        else:
            best[gk] = (prev[0], prev[1], count)
    out = []
    for (device, sweep, runtime, op, dtype, axis), (rep, dip, count) in best.items():
        cheap, costly = fmt_axis_value(dip["cheap"]), fmt_axis_value(dip["costly"])
        ratio = dip["costly_macs"] / dip["cheap_macs"] if dip["cheap_macs"] > 0 else float("inf")
        message = (f"On {device}, {op} ({rep.describe()}) with {axis_words(axis)} {costly} runs "
                   f"{pct(dip['drop'])} faster than with {cheap} despite {ratio:.1f}x the MACs "
                   f"({dip['costly_ms']:.3g} ms vs {dip['cheap_ms']:.3g} ms); prefer {costly} over {cheap}.")
        evidence = {**dip, "op": op, "dtype": dtype, "runtime": runtime, "fixed_params": rep.fixed_params,
                    "series_affected": count,
                    "thresholds": {"dip_min_rel": thresholds.dip_min_rel,
                                   "dip_min_mac_ratio": thresholds.dip_min_mac_ratio}}
        out.append(Anomaly(kind="non_monotonic", device=str(device), sweep=str(sweep), axis=axis,
                           at=f"{cheap}>{costly}", magnitude=dip["drop"], finding="", message=message,
                           evidence_json=evidence_json(evidence)))
    return out
