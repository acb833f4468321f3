"""Non-monotonic latency vs cost: a point with more MACs that runs significantly faster."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    AxisSeries,
    all_axis_series,
    axis_words,
    effect_floor,
    fmt_axis_value,
    pct,
    timed,
)
from suite.analysis.steps import MAX_CONFIRM_JOBS, MAX_POTTS_POINTS, SeriesModel, analyse_series
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.trend import moderated_fit, series_data, smooth_design
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED, critical, rounds_agree

#: Candidate pairs re-tested with their own leave-two-out scatter (largest z first).
_RETESTED = 3


def worst_dip(model: SeriesModel | AxisSeries, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict | None:
    """The pair (cheap, costly) of one series with the strongest evidence of a latency drop.

    Model: for every pair with ``macs_costly >= dip_min_mac_ratio * macs_cheap`` (the ``m``
    tests), the drop is ``1 - latency_costly / latency_cheap`` and its statistic
    ``z = log(lat_cheap / lat_costly) / sqrt(sigma_cheap^2 + sigma_costly^2 + 2 tau^2)``, where
    ``sigma`` is each headline's between-round standard error and ``tau`` the point-to-point
    scatter of the series around its model (the confirmed staircase, else the smooth model of
    :mod:`suite.analysis.trend`), refitted without the two points of the pair (so a real dip
    does not hide behind the scatter it causes). The verdict:

    * ``confirmed``: ``z`` clears the one-sided t quantile at family-wise ``alpha`` over the
      ``m`` pairs (Bonferroni), the drop is at least ``max(dip_min_rel, noise floor)`` and every
      round agrees (the cheap point is at least ``dip_min_rel / 2`` slower in each round);
    * ``unresolved``: the drop is at least ``dip_min_rel`` and ``z`` clears ``alpha_unresolved``
      but not all of the above;

    Returns ``None`` when no pair qualifies, else a dict with both points, the drop, ``z``, the
    critical values, the verdict and the series indices of both points.
    """
    if isinstance(model, AxisSeries):
        model = analyse_series([model], thresholds)[0] if len(model.x) >= thresholds.min_series_points else \
            SeriesModel(series=model, stair=None, steps_design=np.empty((len(model.x), 0)), tau2=float("nan"),
                        dof=float("nan"))
    series = model.series
    data = model.data if model.data is not None else series_data(series, MAX_POTTS_POINTS)
    n = data.n
    if n < 3:
        return None
    macs = series.macs[data.idx]
    if not np.isfinite(macs).any():
        return None
    y, v = data.y, data.v
    with np.errstate(invalid="ignore", divide="ignore"):
        costlier = macs[None, :] >= thresholds.dip_min_mac_ratio * macs[:, None]  # [i, j]: j costs more than i
        drop = 1.0 - y[None, :] / y[:, None]
    m = int(costlier.sum())
    cand = costlier & (drop >= thresholds.dip_min_rel)
    if not cand.any():
        return None
    X = smooth_design(data)
    if model.steps_design.shape[0] == n and model.steps_design.shape[1]:
        X = np.column_stack([X, model.steps_design])
    tau2_all = model.tau2 if np.isfinite(model.tau2) else thresholds.assumed_point_noise_rel**2
    logr = np.log(y[:, None] / y[None, :])
    z_all = np.where(cand, logr / np.sqrt(v[:, None] + v[None, :] + 2 * tau2_all), -np.inf)
    flat = np.argsort(-z_all, axis=None)[:_RETESTED]
    floor = effect_floor(series.floor, thresholds.dip_min_rel)
    best: tuple[float, int, int, float, float] | None = None
    for f in flat:
        a, b = (int(k) for k in np.unravel_index(int(f), z_all.shape))
        if not np.isfinite(z_all[a, b]):
            continue
        keep = np.ones(n, dtype=bool)
        keep[[a, b]] = False
        got = moderated_fit(X, data, thresholds, rows=keep) if keep.sum() > X.shape[1] else None
        tau2, dof = (got[0].tau2, got[1]) if got is not None else (tau2_all, thresholds.prior_dof)
        z = float(logr[a, b] / math.sqrt(v[a] + v[b] + 2 * tau2))
        if best is None or z > best[0]:
            best = (z, a, b, tau2, dof)
    if best is None:
        return None
    z, i, j, tau2, dof = best
    crit, crit_u = critical(thresholds.alpha, m, dof), critical(thresholds.alpha_unresolved, m, dof)
    d = float(drop[i, j])
    agree = rounds_agree(series.rounds[data.idx[i]], series.rounds[data.idx[j]], thresholds.dip_min_rel / 2) \
        if series.rounds else True
    if z >= crit and d >= floor and agree:
        verdict = CONFIRMED
    elif z >= crit_u:
        verdict = UNRESOLVED
    else:
        return None
    return {"cheap": float(data.x[i]), "costly": float(data.x[j]), "cheap_ms": float(y[i]), "costly_ms": float(y[j]),
            "cheap_macs": float(macs[i]), "costly_macs": float(macs[j]), "drop": d, "z": z, "critical": crit,
            "critical_unresolved": crit_u, "noise_rel": math.sqrt(tau2), "pairs_tested": m, "effect_floor": floor,
            "rounds_agree": bool(agree), "verdict": verdict,
            "idx": (int(data.idx[i]), int(data.idx[j]))}


def find_non_monotonic(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                       axes: list[str] | None = None, series: list[AxisSeries] | None = None,
                       models: list[SeriesModel] | None = None) -> list[Anomaly]:
    """Anomalies where more MACs run faster, one per (device, sweep, op, dtype, axis).

    See :func:`worst_dip` for the model and thresholds. ``confirmed`` when some series has a
    confirmed dip (the strongest is described), else ``unresolved``. ``series`` or ``models``
    (from :func:`~suite.analysis.steps.analyse_series`) skip building them again.
    """
    if models is None:
        if series is None:
            series = all_axis_series(timed(df, thresholds), thresholds.min_series_points, axes)
        models = analyse_series([s for s in series if len(s.x) >= thresholds.min_series_points], thresholds)
    groups: dict[tuple, list[tuple[SeriesModel, dict]]] = {}
    for mdl in models:
        s = mdl.series
        if len(s.x) < thresholds.min_series_points:
            continue
        dip = worst_dip(mdl, thresholds)
        if dip is None:
            continue
        k = s.key
        gk = (k.get("device"), k.get("sweep"), k.get("runtime"), k.get("op"), k.get("dtype"), s.axis)
        groups.setdefault(gk, []).append((mdl, dip))
    out = []
    for (device, sweep, runtime, op, dtype, axis), found in groups.items():
        confirmed = [f for f in found if f[1]["verdict"] == CONFIRMED]
        verdict = CONFIRMED if confirmed else UNRESOLVED
        rep, dip = max(confirmed or found, key=lambda f: (f[1]["z"] / f[1]["critical"], f[1]["drop"]))
        cheap, costly = fmt_axis_value(dip["cheap"]), fmt_axis_value(dip["costly"])
        ratio = dip["costly_macs"] / dip["cheap_macs"] if dip["cheap_macs"] > 0 else float("inf")
        what = (f"On {device}, {op} ({rep.series.describe()}) with {axis_words(axis)} {costly} runs "
                f"{pct(dip['drop'])} faster than with {cheap} despite {ratio:.1f}x the MACs "
                f"({dip['costly_ms']:.3g} ms vs {dip['cheap_ms']:.3g} ms)")
        if verdict == CONFIRMED:
            message = f"{what}; prefer {costly} over {cheap}."
        else:
            why = ("its rounds disagree" if not dip["rounds_agree"] else
                   f"the drop is below this run's noise floor ({pct(dip['effect_floor'])})"
                   if dip["z"] >= dip["critical"] else
                   f"the evidence (z = {dip['z']:.1f}) falls short of the {dip['critical']:.1f} a claim needs with "
                   f"{pct(dip['noise_rel'])} point-to-point scatter")
            message = f"{what}, but {why}: unresolved at this noise level; re-measure both points to decide."
        jobs = [] if verdict == CONFIRMED else [j for mdl, d in found for j in mdl.series.jobs(list(d["idx"]))]
        evidence = {**{k: v for k, v in dip.items() if k != "idx"}, "op": op, "dtype": dtype, "runtime": runtime,
                    "fixed_params": rep.series.fixed_params, "series_affected": len(confirmed),
                    "series_unresolved": len(found) - len(confirmed),
                    "confirm_jobs": list(dict.fromkeys(jobs))[:MAX_CONFIRM_JOBS],
                    "thresholds": {"dip_min_rel": thresholds.dip_min_rel,
                                   "dip_min_mac_ratio": thresholds.dip_min_mac_ratio, "alpha": thresholds.alpha}}
        out.append(Anomaly(kind="non_monotonic", device=str(device), sweep=str(sweep), axis=axis,
                           at=f"{cheap}>{costly}", magnitude=dip["drop"], finding="", message=message,
                           evidence_json=evidence_json(evidence), verdict=verdict))
    return out
