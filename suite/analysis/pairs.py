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
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, critical, rounds_agree

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
    tau = out["device"].map(lambda d: point_noise.get(str(d), thresholds.assumed_point_noise_rel)).to_numpy(float)
    var = out["_sigma"].to_numpy(float) ** 2 + out["_ref_sigma"].to_numpy(float) ** 2 + 2 * tau**2
    with np.errstate(invalid="ignore", divide="ignore"):
        out["overhead"] = lat / ref - 1.0
        out["z"] = np.log(lat / ref) / np.sqrt(var)
    out["sd"] = np.sqrt(var)
    m = out.groupby("device")[groups].apply(lambda g: len(g.drop_duplicates())) if len(out) else pd.Series(dtype=int)
    count = out["device"].map(m).fillna(1).astype(int).to_numpy()
    out["critical"] = [critical(thresholds.alpha, k) for k in count]
    out["critical_unresolved"] = [critical(thresholds.alpha_unresolved, k) for k in count]
    out["noise_rel"] = tau
    out["rounds_agree"] = [rounds_agree(a, b, ROUND_AGREEMENT * threshold) if o >= 0 else
                           rounds_agree(b, a, ROUND_AGREEMENT * threshold)
                           for a, b, o in zip(out["_rounds"], out["_ref_rounds"], out["overhead"], strict=True)]
    out["significant"] = (np.abs(out["z"]) >= out["critical"]) & (np.abs(out["overhead"]) >= threshold)
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
    med = float(np.median(effects))
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
    rows = []
    for key, g in frame.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        eff = g["overhead"].to_numpy(float)
        device = str(dict(zip(keys, key, strict=True)).get("device"))
        floor = floors.get(device, 0.0)
        agree = bool(g["rounds_agree"].all())
        verdict, why = group_verdict(eff, g["z"].to_numpy(float), g["significant"].to_numpy(bool), agree,
                                     threshold, floor, float(g["critical_unresolved"].iloc[0]))
        med = float(np.median(eff))
        # 95 % interval of the typical effect: configurations as replicates of it
        half = 1.96 * float(np.median(g["sd"].to_numpy(float))) / np.sqrt(len(g))
        rows.append({**dict(zip(keys, key, strict=True)), name: med,
                     f"{name}_min": float(eff.min()), f"{name}_max": float(eff.max()),
                     f"{name}_low": float(np.expm1(np.log1p(med) - half)),
                     f"{name}_high": float(np.expm1(np.log1p(med) + half)),
                     "cost_ratio": float(np.nanmedian(g["cost_ratio"].to_numpy(float)))
                     if np.isfinite(g["cost_ratio"].to_numpy(float)).any() else float("nan"),
                     "n": len(g), "n_significant": int(g["significant"].sum()), "z": float(g["z"].median()),
                     "critical": float(g["critical"].iloc[0]), "rounds_agree": agree, "verdict": verdict, "why": why,
                     "effect_floor": max(threshold, floor), "noise_rel": float(g["noise_rel"].iloc[0]),
                     "confirm_jobs": tuple(dict.fromkeys(j for t in g["job_ids"] for j in t))})
    return pd.DataFrame(rows, columns=cols)
