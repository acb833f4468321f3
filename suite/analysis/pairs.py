"""Variant vs reference on honest noise: the comparisons behind F2, F3 and F5.

A pair is two different configurations measured on one device (``conv2d + relu6`` vs
``conv2d``; int8 vs fp32 of one configuration). Model, in log units::

    d = log(latency / reference),   var(d) = sigma^2 + sigma_ref^2 + 2 tau^2

``sigma`` is each headline's between-round standard error (:func:`suite.analysis.series.timed`)
and ``tau`` the device's point-to-point scatter: the median scatter its series show around
their models (:func:`suite.analysis.steps.device_point_noise`), or ``assumed_point_noise_rel``
where the device has no series. Two configurations differ by ``tau`` even when nothing else
differs, which no per-point interval shows. ``z = d / sqrt(var(d))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.analysis.series import all_axis_series
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, critical, median

#: A single-configuration claim needs every round to show at least this fraction of the threshold.
ROUND_AGREEMENT = 0.5


def point_noise_of(data: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, float]:
    """Point-to-point scatter per device of a :func:`~suite.analysis.series.timed` frame, from
    its series (see :func:`suite.analysis.steps.device_point_noise`)."""
    from suite.analysis.steps import analyse_series, device_point_noise

    if data.empty:
        return {}
    series = all_axis_series(data, thresholds.min_series_points)
    return device_point_noise(analyse_series(series, thresholds), thresholds)


def run_floors(data: pd.DataFrame) -> dict[str, float]:
    """Largest noise floor per device of a :func:`~suite.analysis.series.timed` frame (devices
    whose runs measured none are absent)."""
    if data.empty or "_floor" not in data.columns:
        return {}
    f = data.groupby("device")["_floor"].max()
    return {str(k): float(v) for k, v in f.items() if np.isfinite(v)}


def compare_pairs(pairs: pd.DataFrame, threshold: float, thresholds: Thresholds, point_noise: dict[str, float],
                  groups: list[str]) -> pd.DataFrame:
    """Add ``overhead`` (``latency / reference - 1``), ``sd`` (of its log), ``z``, ``critical``,
    ``critical_unresolved``, ``noise_rel``, ``rounds_agree`` and ``significant`` to a frame of
    pairs (``latency_ms``, ``reference_ms``, ``_sigma``, ``_ref_sigma``, ``_rounds``,
    ``_ref_rounds``, ``device`` and the ``groups`` columns).

    ``critical`` is the one-sided normal quantile at family-wise ``alpha`` over the variant
    groups of the device (Bonferroni); ``significant``: ``|z| >= critical`` and
    ``|overhead| >= threshold``; ``rounds_agree``: every round shows at least
    ``ROUND_AGREEMENT * threshold`` (rounds paired by index).
    """
    out = pairs.copy()
    lat, ref = out["latency_ms"].to_numpy(float), out["reference_ms"].to_numpy(float)
    devices = out["device"].astype(str).to_numpy(dtype=object)
    names, device_idx = np.unique(devices, return_inverse=True) if len(out) else (np.empty(0, object), np.empty(0, int))
    tau = np.array([point_noise.get(str(d), thresholds.assumed_point_noise_rel) for d in names],
                   dtype=float)[device_idx]
    var = out["_sigma"].to_numpy(float) ** 2 + out["_ref_sigma"].to_numpy(float) ** 2 + 2 * tau**2
    with np.errstate(invalid="ignore", divide="ignore"):
        out["overhead"] = lat / ref - 1.0
        out["z"] = np.log(lat / ref) / np.sqrt(var)
    out["sd"] = np.sqrt(var)
    # variants tested per device: its distinct combinations of the group columns (Bonferroni)
    if len(out):
        distinct = out[list(dict.fromkeys(["device", *groups]))].drop_duplicates()
        count = out["device"].map(distinct.groupby("device").size()).fillna(1).astype(int).to_numpy()
    else:
        count = np.empty(0, dtype=int)
    levels, level_idx = np.unique(count, return_inverse=True)
    out["critical"] = np.array([critical(thresholds.alpha, int(k)) for k in levels], dtype=float)[level_idx]
    out["critical_unresolved"] = np.array([critical(thresholds.alpha_unresolved, int(k)) for k in levels],
                                          dtype=float)[level_idx]
    out["noise_rel"] = tau
    out["rounds_agree"] = rounds_agree_many(list(out["_rounds"]), list(out["_ref_rounds"]),
                                            out["overhead"].to_numpy(float), ROUND_AGREEMENT * threshold)
    out["significant"] = (np.abs(out["z"]) >= out["critical"]) & (np.abs(out["overhead"]) >= threshold)
    return out


def rounds_agree_many(variant: list, reference: list, overhead: np.ndarray, min_effect: float) -> np.ndarray:
    """:func:`~suite.analysis.uncertainty.rounds_agree` of every pair, in the direction of its
    effect (``variant`` vs ``reference`` where ``overhead >= 0``, else the other way round).

    Pairs are grouped by how many rounds both sides have; each group is one array operation on
    the flattened round medians, the same arithmetic as the one-pair function."""
    rows = len(overhead)
    out = np.ones(rows, dtype=bool)
    if rows == 0:
        return out
    a_len = np.fromiter(map(len, variant), dtype=np.int64, count=rows)
    b_len = np.fromiter(map(len, reference), dtype=np.int64, count=rows)
    a_flat = np.concatenate([np.asarray(r, dtype=float) for r in variant]) if a_len.sum() else np.empty(0)
    b_flat = np.concatenate([np.asarray(r, dtype=float) for r in reference]) if b_len.sum() else np.empty(0)
    a_start, b_start = np.cumsum(a_len) - a_len, np.cumsum(b_len) - b_len
    k_all = np.minimum(a_len, b_len)
    forward = overhead >= 0
    for k in np.unique(k_all[k_all >= 2]).tolist():
        which = np.flatnonzero(k_all == k)
        steps = np.arange(k)
        a = a_flat[a_start[which][:, None] + steps]
        b = b_flat[b_start[which][:, None] + steps]
        fwd = forward[which][:, None]
        num, den = np.where(fwd, a, b), np.where(fwd, b, a)
        out[which] = np.all(num / den - 1.0 >= min_effect, axis=1)
    return out


def group_verdict(effects: np.ndarray, z: np.ndarray, significant: np.ndarray, agree: bool, threshold: float,
                  floor: float, critical_unresolved: float) -> tuple[str, str]:
    """``(verdict, why)`` for one variant over its configurations.

    ``confirmed``: the median effect is at least ``max(threshold, floor)`` (the run's noise
    floor), at least half the configurations are significant, and a single configuration's
    rounds agree. ``unresolved``: the median effect reaches ``threshold`` and some
    configuration's ``z`` clears ``critical_unresolved``, but the rest does not hold (``why``
    says what). ``""``: negligible.
    """
    med = median(np.asarray(effects, dtype=float))
    if med < threshold or not len(effects):
        return "", ""
    n, n_sig = len(effects), int(np.sum(significant))
    if med >= max(threshold, floor) and 2 * n_sig >= n and (n > 1 or agree):
        return CONFIRMED, ""
    if not np.any(z >= critical_unresolved):
        return "", ""
    if med < floor:
        return UNRESOLVED, f"that is below this run's noise floor ({100 * floor:.1f}%)"
    if n == 1 and not agree and n_sig:
        return UNRESOLVED, "its rounds disagree"
    return UNRESOLVED, (f"only {n_sig} of {n} configurations clear the noise" if n > 1 else
                        f"it does not clear the noise (z = {float(z[0]):.1f})")


def summarize_pairs(frame: pd.DataFrame, keys: list[str], name: str, threshold: float, thresholds: Thresholds,
                    floors: dict[str, float] | None = None) -> pd.DataFrame:
    """Per group of ``keys``: median ``overhead`` (as ``name``), its min and max, its 95 %
    interval (``_low``/``_high``: ``1.96 x`` the median pair sd over ``sqrt(n)``), median cost
    ratio, ``n``, ``n_significant``, median ``z``, ``critical``, ``rounds_agree``, the
    ``verdict``/``why`` of :func:`group_verdict`, ``effect_floor``, ``noise_rel`` and
    ``confirm_jobs``."""
    cols = [*keys, name, f"{name}_min", f"{name}_max", f"{name}_low", f"{name}_high", "cost_ratio", "n",
            "n_significant", "z", "critical", "rounds_agree", "verdict", "why", "effect_floor", "noise_rel",
            "confirm_jobs"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    floors = floors or {}
    # one sort by group, then numpy slices: a pandas sub-frame per group costs far more than the
    # arithmetic on it once there are thousands of groups (rows keep their order within a group)
    gid = frame.groupby(keys, dropna=False, sort=True).ngroup().to_numpy()
    order = np.argsort(gid, kind="stable")
    gid = gid[order]
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    ends = np.r_[starts[1:], len(gid)]
    key_values = [frame[k].to_numpy(dtype=object)[order][starts].tolist() for k in keys]
    col = {c: frame[c].to_numpy(float)[order] for c in ("overhead", "z", "sd", "cost_ratio", "critical",
                                                         "critical_unresolved", "noise_rel")}
    significant = frame["significant"].to_numpy(bool)[order]
    agree_all = frame["rounds_agree"].to_numpy(bool)[order]
    job_ids = frame["job_ids"].to_numpy(dtype=object)[order]
    rows = []
    for g, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        key = tuple(values[g] for values in key_values)
        eff, z, sd, cost = col["overhead"][a:b], col["z"][a:b], col["sd"][a:b], col["cost_ratio"][a:b]
        sig = significant[a:b]
        device = str(dict(zip(keys, key, strict=True)).get("device"))
        floor = floors.get(device, 0.0)
        agree = bool(agree_all[a:b].all())
        verdict, why = group_verdict(eff, z, sig, agree, threshold, floor, float(col["critical_unresolved"][a]))
        med = median(eff)
        # 95 % interval of the typical effect: configurations as replicates of it
        half = 1.96 * median(sd) / np.sqrt(b - a)
        finite_z = z[~np.isnan(z)]
        rows.append({**dict(zip(keys, key, strict=True)), name: med,
                     f"{name}_min": float(eff.min()), f"{name}_max": float(eff.max()),
                     f"{name}_low": float(np.expm1(np.log1p(med) - half)),
                     f"{name}_high": float(np.expm1(np.log1p(med) + half)),
                     "cost_ratio": median(cost[~np.isnan(cost)]) if np.isfinite(cost).any() else float("nan"),
                     "n": b - a, "n_significant": int(sig.sum()),
                     "z": median(finite_z),
                     "critical": float(col["critical"][a]), "rounds_agree": agree, "verdict": verdict, "why": why,
                     "effect_floor": max(threshold, floor), "noise_rel": float(col["noise_rel"][a]),
                     "confirm_jobs": tuple(dict.fromkeys(j for t in job_ids[a:b] for j in t))})
    return pd.DataFrame(rows, columns=cols)
