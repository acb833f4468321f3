"""Rank inversions: point pairs whose latency order flips between devices, or contradicts MACs."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import pct, significantly_greater, timed
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.sweep.point import describe

#: Largest group compared pairwise (O(m^2) memory); larger groups are thinned evenly by latency.
MAX_RANK_POINTS = 1500

#: With more devices than this, device pairs are formed between one representative per
#: ``device_class`` (the device with most points), since pairs grow as the square of devices.
MAX_PAIRWISE_DEVICES = 12


def _devices_to_pair(g: pd.DataFrame) -> list[str]:
    devices = sorted(g["device"].unique())
    if len(devices) <= MAX_PAIRWISE_DEVICES or "device_class" not in g.columns:
        return devices
    counts = g.groupby(["device_class", "device"]).size().reset_index(name="n")
    counts = counts.sort_values(["device_class", "n", "device"], ascending=[True, False, True])
    return sorted(counts.drop_duplicates("device_class")["device"])


def _per_point(data: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, sweep, dtype, point_id): median latency, widest CI, MACs, label."""
    data = data.assign(device_class=data["device_class"] if "device_class" in data.columns else data["device"])
    return (data.groupby(["device", "sweep", "dtype", "point_id"], sort=True)
            .agg(lat=("median_ms", "median"), half=("_half_ms", "max"), macs=("macs", "first"), op=("op", "first"),
                 params=("params_json", "first"), device_class=("device_class", "first"))
            .reset_index())


def _thin(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    if len(frame) <= MAX_RANK_POINTS:
        return frame
    order = frame.sort_values(by)
    keep = np.unique(np.linspace(0, len(order) - 1, MAX_RANK_POINTS).round().astype(int))
    return order.iloc[keep]


def _label(row: pd.Series) -> str:
    """``conv2d cin=32 cout=32 kernel=5``: the op and the parameters that differ from its defaults."""
    params = row["params"]
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return f"{row['op']} {params}"
    return describe(row["op"], params)


def device_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Per (device A, device B, sweep, dtype): pairs comparable on both, and how many flip.

    A pair of points is comparable when their latencies differ beyond both CIs on both
    devices; it is inverted when the order differs. With more than
    :data:`MAX_PAIRWISE_DEVICES` devices, one device per ``device_class`` is compared. Columns: ``device_a, device_b, sweep,
    dtype, points, comparable, inverted, fraction, example``.
    """
    data = timed(df)
    cols = ["device_a", "device_b", "sweep", "dtype", "points", "comparable", "inverted", "fraction", "example"]
    if data.empty or "point_id" not in data.columns:
        return pd.DataFrame(columns=cols)
    per = _per_point(data)
    rows = []
    for (sweep, dtype), g in per.groupby(["sweep", "dtype"], sort=True):
        for dev_a, dev_b in combinations(_devices_to_pair(g), 2):
            a = g[g["device"] == dev_a].set_index("point_id")
            b = g[g["device"] == dev_b].set_index("point_id")
            common = a.index.intersection(b.index)
            if len(common) < 2:
                continue
            a, b = a.loc[common], b.loc[common]
            a = _thin(a, "lat")
            b = b.loc[a.index]
            la, ha, lb, hb = (x.to_numpy(float) for x in (a["lat"], a["half"], b["lat"], b["half"]))
            a_gt = significantly_greater(la[:, None], ha[:, None], la[None, :], ha[None, :])  # i slower than j on A
            b_gt = significantly_greater(lb[:, None], hb[:, None], lb[None, :], hb[None, :])
            inverted = np.triu(a_gt & b_gt.T | a_gt.T & b_gt, 1)
            comparable = np.triu((a_gt | a_gt.T) & (b_gt | b_gt.T), 1)
            n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
            example = ""
            if n_inv:
                # the flip with the largest combined log-ratio
                score = np.where(inverted, np.abs(np.log(la[:, None] / la[None, :])) +
                                 np.abs(np.log(lb[:, None] / lb[None, :])), -1)
                i, j = np.unravel_index(np.argmax(score), score.shape)
                ai, aj = a.iloc[i], a.iloc[j]
                example = (f"{_label(ai)}: {la[i]:.3g} ms on {dev_a}, {lb[i]:.3g} ms on {dev_b}; "
                           f"{_label(aj)}: {la[j]:.3g} ms on {dev_a}, {lb[j]:.3g} ms on {dev_b}")
            rows.append({"device_a": dev_a, "device_b": dev_b, "sweep": sweep, "dtype": dtype, "points": len(a),
                         "comparable": n_cmp, "inverted": n_inv, "fraction": n_inv / n_cmp if n_cmp else 0.0,
                         "example": example})
    return pd.DataFrame(rows, columns=cols)


def mac_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Per (device, sweep, dtype): pairs whose latency order contradicts their MACs order.

    A pair counts as comparable when MACs differ by at least ``inversion_min_mac_ratio`` and
    latencies differ beyond both CIs; inverted when the costlier point is the faster one.
    Columns: ``device, sweep, dtype, points, comparable, inverted, fraction, example``.
    """
    data = timed(df)
    cols = ["device", "sweep", "dtype", "points", "comparable", "inverted", "fraction", "example"]
    if data.empty or "point_id" not in data.columns:
        return pd.DataFrame(columns=cols)
    per = _per_point(data)
    per = per[pd.to_numeric(per["macs"], errors="coerce") > 0]
    rows = []
    for (device, sweep, dtype), g in per.groupby(["device", "sweep", "dtype"], sort=True):
        if len(g) < 2:
            continue
        g = _thin(g, "macs")
        lat, half, macs = (g[c].to_numpy(float) for c in ("lat", "half", "macs"))
        costlier = macs[None, :] >= thresholds.inversion_min_mac_ratio * macs[:, None]  # j costs more than i
        slower = significantly_greater(lat[:, None], half[:, None], lat[None, :], half[None, :])  # i slower than j
        faster = slower.T  # i faster than j
        inverted = costlier & slower
        comparable = costlier & (slower | faster)
        n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
        example = ""
        if n_inv:
            score = np.where(inverted, lat[:, None] / lat[None, :], -1)
            i, j = np.unravel_index(np.argmax(score), score.shape)
            gi, gj = g.iloc[i], g.iloc[j]
            example = (f"{_label(gj)} ({macs[j] / 1e6:.3g} MMAC) takes {lat[j]:.3g} ms, "
                       f"{_label(gi)} ({macs[i] / 1e6:.3g} MMAC) takes {lat[i]:.3g} ms")
        rows.append({"device": device, "sweep": sweep, "dtype": dtype, "points": len(g), "comparable": n_cmp,
                     "inverted": n_inv, "fraction": n_inv / n_cmp if n_cmp else 0.0, "example": example})
    return pd.DataFrame(rows, columns=cols)


def find_rank_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Anomaly]:
    """Anomalies for device-pair flips and MACs-order contradictions.

    Reported when at least ``inversion_min_pairs`` pairs and ``inversion_min_fraction`` (5 %)
    of comparable pairs are inverted. Magnitude is the inverted fraction.
    """
    th = thresholds
    out = []
    for r in device_inversions(df, th).itertuples(index=False):
        if r.inverted < th.inversion_min_pairs or r.fraction < th.inversion_min_fraction:
            continue
        message = (f"Between {r.device_a} and {r.device_b}, {pct(r.fraction)} of comparable {r.sweep} pairs ({r.dtype}) "
                   f"run in opposite order ({r.inverted} of {r.comparable}), e.g. {r.example}; a design ranked "
                   f"on one device does not transfer to the other.")
        out.append(Anomaly(kind="rank_inversion_devices", device=f"{r.device_a}|{r.device_b}", sweep=str(r.sweep),
                           axis="device", at=str(r.dtype), magnitude=float(r.fraction), finding="", message=message,
                           evidence_json=evidence_json(r._asdict())))
    for r in mac_inversions(df, th).itertuples(index=False):
        if r.inverted < th.inversion_min_pairs or r.fraction < th.inversion_min_fraction:
            continue
        message = (f"On {r.device}, {pct(r.fraction)} of comparable {r.sweep} pairs ({r.dtype}) run in the opposite "
                   f"order of their MACs ({r.inverted} of {r.comparable}), e.g. {r.example}; rank designs by measured "
                   f"latency on this device, not MACs.")
        out.append(Anomaly(kind="rank_inversion_macs", device=str(r.device), sweep=str(r.sweep), axis="macs",
                           at=str(r.dtype), magnitude=float(r.fraction), finding="", message=message,
                           evidence_json=evidence_json(r._asdict())))
    return out
