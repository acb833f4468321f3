"""Efficiency vs a roofline: attained GFLOP/s and GB/s against a device's peaks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import pct, timed
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds

ROOFLINE_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "point_id", "median_ms", "gflops", "gbps",
                    "intensity", "peak_gflops", "peak_gbps", "peak_source", "roof_gflops", "efficiency"]


def roofline_frame(df: pd.DataFrame, peaks: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Attained throughput of every timed point and its efficiency vs the roofline.

    ``gflops = flops / median_ms / 1e6`` (GFLOP/s; int8 "FLOPs" are integer ops),
    ``gbps = bytes_total / median_ms / 1e6`` (GB/s), ``intensity = flops / bytes_total``
    (FLOP/byte). The roof is ``min(peak_gflops, intensity * peak_gbps)``, ``efficiency =
    gflops / roof`` (1.0 = at the roof).

    ``peaks`` maps device → ``{"gflops": ..., "gbps": ...}`` (vendor or measured peaks);
    devices missing from it use the maximum attained in this frame per (device, dtype)
    (``peak_source == "estimated"``), so efficiency is then relative to the best point seen.
    """
    data = timed(df)
    data = data[(pd.to_numeric(data["flops"], errors="coerce") > 0) &
                (pd.to_numeric(data["bytes_total"], errors="coerce") > 0)] if not data.empty else data
    if data.empty:
        return pd.DataFrame(columns=ROOFLINE_COLUMNS)
    ms = data["median_ms"].to_numpy(float)
    flops, nbytes = data["flops"].to_numpy(float), data["bytes_total"].to_numpy(float)
    out = data[["device", "sweep", "runtime", "op", "dtype", "point_id", "median_ms"]].copy()
    out["gflops"], out["gbps"], out["intensity"] = flops / ms / 1e6, nbytes / ms / 1e6, flops / nbytes
    est = out.groupby(["device", "dtype"])[["gflops", "gbps"]].transform("max")
    peaks = peaks or {}
    given = out["device"].map(lambda d: d in peaks)
    out["peak_gflops"] = np.where(given, out["device"].map(lambda d: float(peaks.get(d, {}).get("gflops", np.nan))),
                                  est["gflops"])
    out["peak_gbps"] = np.where(given, out["device"].map(lambda d: float(peaks.get(d, {}).get("gbps", np.nan))),
                                est["gbps"])
    out["peak_source"] = np.where(given, "given", "estimated")
    out["roof_gflops"] = np.minimum(out["peak_gflops"], out["intensity"] * out["peak_gbps"])
    out["efficiency"] = out["gflops"] / out["roof_gflops"]
    return out.reset_index(drop=True)[ROOFLINE_COLUMNS]


def find_low_efficiency(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                        peaks: Mapping[str, Mapping[str, float]] | None = None) -> list[Anomaly]:
    """Ops whose median efficiency is below ``efficiency_low`` (10 %) of the roofline.

    One anomaly per (device, sweep, runtime, op, dtype); magnitude ``1 - eff / efficiency_low``
    (how far below the line, 0..1).
    """
    frame = roofline_frame(df, peaks)
    out: list[Anomaly] = []
    if frame.empty:
        return out
    keys = ["device", "sweep", "runtime", "op", "dtype"]
    # every group's medians at once; only the groups below the line become anomalies
    grouped = frame.groupby(keys, sort=True, dropna=False)
    summary = pd.concat([grouped[["efficiency", "gflops", "gbps"]].median().rename(columns={"efficiency": "eff"}),
                         grouped[["peak_source", "peak_gflops", "peak_gbps"]].first(),
                         grouped.size().rename("n")], axis=1).reset_index()
    eff_all = summary["eff"].to_numpy(float)
    for r in summary[np.isfinite(eff_all) & (eff_all < thresholds.efficiency_low)].itertuples(index=False):
        device, sweep, runtime, op, dtype = r.device, r.sweep, r.runtime, r.op, r.dtype
        eff, source = float(r.eff), r.peak_source
        vs = "the device's peak roofline" if source == "given" else "the best throughput seen on this device"
        message = (f"On {device}, {op} ({dtype}) attains a median {pct(eff)} of {vs} "
                   f"({r.gflops:.3g} GFLOP/s, {r.gbps:.3g} GB/s over {r.n} points); "
                   f"it leaves the hardware mostly idle, so reshape or replace it.")
        evidence = {"op": op, "runtime": runtime, "efficiency_median": eff, "gflops_median": r.gflops,
                    "gbps_median": r.gbps, "peak_gflops": r.peak_gflops,
                    "peak_gbps": r.peak_gbps, "peak_source": source, "n": int(r.n),
                    "thresholds": {"efficiency_low": thresholds.efficiency_low}}
        out.append(Anomaly(kind="low_efficiency", device=str(device), sweep=str(sweep), axis="", at=str(dtype),
                           magnitude=1.0 - eff / thresholds.efficiency_low, finding="", message=message,
                           evidence_json=evidence_json(evidence)))
    return out
