"""Rank inversions: point pairs whose latency order flips between devices, or contradicts MACs."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd

from suite.analysis.pairs import point_noise_of, run_floors
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import Z95, pct, timed
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, critical
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


def _per_point(data: pd.DataFrame, thresholds: Thresholds, point_noise: dict[str, float] | None) -> pd.DataFrame:
    """One row per (device, sweep, dtype, point_id): median latency, its total relative noise
    ``sd`` (between-round ``sigma`` and the device's point-to-point scatter), MACs, label, floor."""
    data = data.assign(device_class=data["device_class"] if "device_class" in data.columns else data["device"])
    if point_noise is None:
        point_noise = point_noise_of(data, thresholds)
    per = (data.groupby(["device", "sweep", "dtype", "point_id"], sort=True)
           .agg(lat=("median_ms", "median"), sigma=("_sigma", "max"), macs=("macs", "first"), op=("op", "first"),
                params=("params_json", "first"), device_class=("device_class", "first"), floor=("_floor", "max"))
           .reset_index())
    tau = per["device"].map(lambda d: point_noise.get(str(d), thresholds.assumed_point_noise_rel))
    per["sd"] = np.sqrt(per["sigma"] ** 2 + tau**2)
    # plain object columns: the group loops take rows thousands of times, which is slow on
    # Arrow-backed strings and costs nothing on numpy arrays
    for col in ("device", "sweep", "dtype", "point_id", "op", "params", "device_class"):
        if not pd.api.types.is_object_dtype(per[col]) and pd.api.types.is_string_dtype(per[col]):
            per[col] = per[col].astype(object)
    return per


def _ordered_at(lat: np.ndarray, sd: np.ndarray, zs: tuple[float, ...], floor: float) -> list[np.ndarray]:
    """Per ``z`` of ``zs``, ``[i, j]``: point i slower than point j beyond the noise (``log``
    ratio over the pair's sd at least ``z``, and more than the noise floor); the pair matrices
    are computed once for every ``z``."""
    logr = np.log(lat[:, None] / lat[None, :])
    pair_sd = np.sqrt(sd[:, None] ** 2 + sd[None, :] ** 2)
    with np.errstate(invalid="ignore"):
        beyond_floor = logr >= np.log1p(floor)
        return [(logr >= z * pair_sd) & beyond_floor for z in zs]


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


def device_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                      point_noise: dict[str, float] | None = None) -> pd.DataFrame:
    """Per (device A, device B, sweep, dtype): pairs comparable on both, and how many flip.

    A pair of points is comparable when its latencies differ beyond the noise on both devices:
    ``|log(lat_i / lat_j)| >= z * sqrt(sd_i^2 + sd_j^2)`` with ``sd`` each point's between-round
    ``sigma`` and the device's point-to-point scatter, ``z`` the one-sided normal quantile at
    ``alpha``, and by more than the devices' noise floors; it is inverted when the order
    differs. ``apparent`` counts the further pairs that flip at a single pair's 95 % level
    (``z = 1.96``) on both devices (the inversions re-measurement could confirm). With more than
    :data:`MAX_PAIRWISE_DEVICES` devices, one device per ``device_class`` is compared. Columns:
    ``device_a, device_b, sweep, dtype, points, comparable, inverted, apparent, fraction,
    example``.
    """
    data = timed(df, thresholds)
    cols = ["device_a", "device_b", "sweep", "dtype", "points", "comparable", "inverted", "apparent", "fraction",
            "example"]
    if data.empty or "point_id" not in data.columns:
        return pd.DataFrame(columns=cols)
    per = _per_point(data, thresholds, point_noise)
    z = critical(thresholds.alpha, 1)
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
            la, sa, lb, sb = (x.to_numpy(float) for x in (a["lat"], a["sd"], b["lat"], b["sd"]))
            floor = float(np.nan_to_num(np.nanmax(np.r_[a["floor"].to_numpy(float), b["floor"].to_numpy(float),
                                                        0.0])))
            a_gt, a_big = _ordered_at(la, sa, (z, Z95), floor)
            b_gt, b_big = _ordered_at(lb, sb, (z, Z95), floor)
            inverted = np.triu(a_gt & b_gt.T | a_gt.T & b_gt, 1)
            comparable = np.triu((a_gt | a_gt.T) & (b_gt | b_gt.T), 1)
            apparent = np.triu(a_big & b_big.T | a_big.T & b_big, 1) & ~inverted
            n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
            example = ""
            shown = inverted if n_inv else apparent
            if shown.any():
                # the flip with the largest combined log-ratio
                score = np.where(shown, np.abs(np.log(la[:, None] / la[None, :])) +
                                 np.abs(np.log(lb[:, None] / lb[None, :])), -1)
                i, j = np.unravel_index(np.argmax(score), score.shape)
                ai, aj = a.iloc[i], a.iloc[j]
                example = (f"{_label(ai)}: {la[i]:.3g} ms on {dev_a}, {lb[i]:.3g} ms on {dev_b}; "
                           f"{_label(aj)}: {la[j]:.3g} ms on {dev_a}, {lb[j]:.3g} ms on {dev_b}")
            rows.append({"device_a": dev_a, "device_b": dev_b, "sweep": sweep, "dtype": dtype, "points": len(a),
                         "comparable": n_cmp, "inverted": n_inv, "apparent": int(apparent.sum()),
                         "fraction": n_inv / n_cmp if n_cmp else 0.0, "example": example})
    return pd.DataFrame(rows, columns=cols)


def mac_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   point_noise: dict[str, float] | None = None) -> pd.DataFrame:
    """Per (device, sweep, dtype): pairs whose latency order contradicts their MACs order.

    A pair counts as comparable when MACs differ by at least ``inversion_min_mac_ratio`` and
    latencies differ beyond the noise (as in :func:`device_inversions`); inverted when the
    costlier point is the faster one; ``apparent`` when it is faster at a single pair's 95 %
    level only. Columns: ``device, sweep, dtype, points, comparable, inverted,
    apparent, fraction, example``.
    """
    data = timed(df, thresholds)
    cols = ["device", "sweep", "dtype", "points", "comparable", "inverted", "apparent", "fraction", "example"]
    if data.empty or "point_id" not in data.columns:
        return pd.DataFrame(columns=cols)
    per = _per_point(data, thresholds, point_noise)
    per = per[pd.to_numeric(per["macs"], errors="coerce") > 0]
    z = critical(thresholds.alpha, 1)
    rows = []
    for (device, sweep, dtype), g in per.groupby(["device", "sweep", "dtype"], sort=True):
        if len(g) < 2:
            continue
        g = _thin(g, "macs")
        lat, sd, macs = (g[c].to_numpy(float) for c in ("lat", "sd", "macs"))
        floor = float(np.nan_to_num(np.nanmax(np.r_[g["floor"].to_numpy(float), 0.0])))
        costlier = macs[None, :] >= thresholds.inversion_min_mac_ratio * macs[:, None]  # j costs more than i
        slower, slower_95 = _ordered_at(lat, sd, (z, Z95), floor)  # i slower than j
        faster = slower.T  # i faster than j
        inverted = costlier & slower
        comparable = costlier & (slower | faster)
        apparent = costlier & slower_95 & ~inverted
        n_inv, n_cmp = int(inverted.sum()), int(comparable.sum())
        example = ""
        shown = inverted if n_inv else apparent
        if shown.any():
            score = np.where(shown, lat[:, None] / lat[None, :], -1)
            i, j = np.unravel_index(np.argmax(score), score.shape)
            gi, gj = g.iloc[i], g.iloc[j]
            example = (f"{_label(gj)} ({macs[j] / 1e6:.3g} MMAC) takes {lat[j]:.3g} ms, "
                       f"{_label(gi)} ({macs[i] / 1e6:.3g} MMAC) takes {lat[i]:.3g} ms")
        rows.append({"device": device, "sweep": sweep, "dtype": dtype, "points": len(g), "comparable": n_cmp,
                     "inverted": n_inv, "apparent": int(apparent.sum()),
                     "fraction": n_inv / n_cmp if n_cmp else 0.0, "example": example})
    return pd.DataFrame(rows, columns=cols)


def _apparent_fraction(r) -> float:
    return (r.inverted + r.apparent) / max(r.comparable + r.apparent, 1)


def _rank_verdict(r, thresholds: Thresholds) -> str:
    """``confirmed`` when enough pairs flip beyond the noise; ``unresolved`` when enough do only
    counting the pairs that flip at a single pair's 95 % level; ``""`` otherwise."""
    if r.inverted >= thresholds.inversion_min_pairs and r.fraction >= thresholds.inversion_min_fraction:
        return CONFIRMED
    if r.inverted + r.apparent >= thresholds.inversion_min_pairs and \
            _apparent_fraction(r) >= thresholds.inversion_min_fraction:
        return UNRESOLVED
    return ""


def find_rank_inversions(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                         point_noise: dict[str, float] | None = None) -> list[Anomaly]:
    """Anomalies for device-pair flips and MACs-order contradictions.

    ``confirmed`` when at least ``inversion_min_pairs`` pairs and ``inversion_min_fraction``
    (5 %) of comparable pairs are inverted beyond the noise; ``unresolved`` when that holds
    only for the point estimates (adding the pairs that flip at a single pair's 95 % level). Magnitude is the inverted fraction (the apparent one when unresolved).
    """
    th = thresholds
    out = []
    data = timed(df, th)
    if point_noise is None and not data.empty:
        point_noise = point_noise_of(data, th)
    floors = run_floors(data)
    for r in device_inversions(data, th, point_noise).itertuples(index=False):
        verdict = _rank_verdict(r, th)
        if not verdict:
            continue
        if verdict == CONFIRMED:
            frac = r.fraction
            message = (f"Between {r.device_a} and {r.device_b}, {pct(frac)} of comparable {r.sweep} pairs "
                       f"({r.dtype}) run in opposite order ({r.inverted} of {r.comparable}), e.g. {r.example}; a "
                       f"design ranked on one device does not transfer to the other.")
        else:
            frac = _apparent_fraction(r)
            message = (f"Between {r.device_a} and {r.device_b}, {r.apparent} {r.sweep} pairs ({r.dtype}) seem to run "
                       f"in opposite order, e.g. {r.example}, but not beyond the noise: unresolved at this noise "
                       f"level.")
        out.append(Anomaly(kind="rank_inversion_devices", device=f"{r.device_a}|{r.device_b}", sweep=str(r.sweep),
                           axis="device", at=str(r.dtype), magnitude=float(frac), finding="", message=message,
                           evidence_json=evidence_json({**r._asdict(), "alpha": th.alpha}), verdict=verdict))
    for r in mac_inversions(data, th, point_noise).itertuples(index=False):
        verdict = _rank_verdict(r, th)
        if not verdict:
            continue
        if verdict == CONFIRMED:
            frac = r.fraction
            message = (f"On {r.device}, {pct(frac)} of comparable {r.sweep} pairs ({r.dtype}) run in the opposite "
                       f"order of their MACs ({r.inverted} of {r.comparable}), e.g. {r.example}; rank designs by "
                       f"measured latency on this device, not MACs.")
        else:
            frac = _apparent_fraction(r)
            message = (f"On {r.device}, {r.apparent} {r.sweep} pairs ({r.dtype}) seem to run in the opposite order of "
                       f"their MACs, e.g. {r.example}, but not beyond the noise (floor "
                       f"{pct(floors.get(str(r.device), 0.0))}): unresolved at this noise level.")
        out.append(Anomaly(kind="rank_inversion_macs", device=str(r.device), sweep=str(r.sweep), axis="macs",
                           at=str(r.dtype), magnitude=float(frac), finding="", message=message,
                           evidence_json=evidence_json({**r._asdict(), "alpha": th.alpha}), verdict=verdict))
    return out
