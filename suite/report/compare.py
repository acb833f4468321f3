"""Compare two runs point by point, with rounds (or runs) as the unit of replication.

Model. For each point present in both runs, ``d = log(median_B / median_A)`` (headlines: the
median of the round medians). Every point's headline carries its between-round standard error
``sigma`` (:func:`suite.analysis.series.timed`: the point's own rounds moderated towards its
run's pooled between-round variance, ``prior_dof`` degrees of freedom), so
``var(d) = sigma_A^2 + sigma_B^2``. Two more terms make the comparison hold its level:

* **a shift common to all points** (``shift``): run B on a busier or cooler machine is a bit
  slower or faster everywhere; it is estimated robustly as the median of ``d`` over the points
  and reported on its own ("run B is 2.1 % slower overall"), not as a change of each point;
* **run-to-run scatter of single points** (``tau``): what the rounds of one run cannot see (a
  point's memory layout differs between two runs); estimated from the points themselves as the
  robust spread (1.4826 x MAD) of ``d`` beyond ``var(d)`` (an empirical null: most points did
  not change). Shift and scatter are re-estimated without the points found changed until that
  set is stable (at most :data:`EMPIRICAL_NULL_ROUNDS` times), so a quarter of the points
  moving one way neither drags the shift nor widens the null.

``z = (d - shift) / sqrt(sigma_A^2 + sigma_B^2 + tau^2)``, two-sided p-values from Student t
with ``2 * prior_dof + R_A + R_B - 2`` degrees of freedom, adjusted for the number of points with
Benjamini-Hochberg (``scipy.stats.false_discovery_control``). A point ``changed`` when
``q < alpha`` and its change net of the shift is at least ``max(min_change, noise floor of
either run)``; ``unresolved`` when the net change reaches that size but not the significance.
Runs with one round have no between-round information: ``assumed_round_noise_rel`` stands in,
and ``tau`` (the points' own scatter) carries the comparison; that is the run as the unit.

Runs are comparable only when protocol, runtime version, device and format agree
(:func:`comparability`, pyperf's rule); ``hwbehave compare --force`` overrides.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from scipy.stats import t as student_t

from suite.analysis.series import timed
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import robust_scale
from suite.report.tables import Table
from suite.sweep.point import describe

#: Defaults of :func:`compare_runs` (the report quotes them).
ALPHA = 0.05
MIN_CHANGE = 0.02
#: Re-estimations of the empirical null without the points found changed.
EMPIRICAL_NULL_ROUNDS = 5

COMPARE_COLUMNS = ["op", "dtype", "params_json", "config", "median_a_ms", "median_b_ms", "change", "change_net",
                   "ci_low", "ci_high", "rounds_a", "rounds_b", "p_value", "q_value", "significant", "verdict",
                   "direction"]


def _per_point(df: pd.DataFrame, keys: list[str], thresholds: Thresholds) -> pd.DataFrame:
    data = timed(df, thresholds)
    cols = [*keys, "op", "dtype", "params_json", "median_ms", "_sigma", "_n_rounds", "_floor"]
    if data.empty:
        return pd.DataFrame(columns=cols)
    return data.drop_duplicates(keys)[cols].reset_index(drop=True)


def _label(op: str, params_json: str, dtype: str) -> str:
    try:
        params = json.loads(params_json) if isinstance(params_json, str) else {}
    except ValueError:
        params = {}
    return describe(str(op), params, str(dtype), shape=True)


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, *, keys: Sequence[str] | None = None, alpha: float = ALPHA,
                 min_change: float = MIN_CHANGE, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Per point present in both runs: medians, change, its interval and significance.

    See the module docstring for the model. ``change`` is ``median_b / median_a - 1``;
    ``change_net`` the same net of the run-wide shift, with its 95 % interval
    ``ci_low``/``ci_high``; ``verdict`` is ``changed``, ``unresolved`` or ``""``;
    ``direction`` ``slower``/``faster`` for changed points. ``frame.attrs`` holds the run-wide
    ``shift`` (relative) with ``shift_low``/``shift_high``, ``tau`` and the ``floor``.

    ``keys`` default to ``("device", "point_id")`` when the runs share a device, else
    ``("point_id",)`` (comparing two devices on the same sweep).
    """
    if keys is None:
        shared = set(a["device"].dropna()) & set(b["device"].dropna())
        keys = ["device", "point_id"] if shared else ["point_id"]
    keys = list(keys)
    pa, pb = _per_point(a, keys, thresholds), _per_point(b, keys, thresholds)
    both = pa.merge(pb[[*keys, "median_ms", "_sigma", "_n_rounds", "_floor"]], on=keys, suffixes=("_a", "_b"),
                    how="inner")
    if both.empty:
        out = pd.DataFrame(columns=[*keys, *COMPARE_COLUMNS])
        out.attrs.update(shift=float("nan"), shift_low=float("nan"), shift_high=float("nan"), tau=float("nan"),
                         floor=float("nan"), points=0)
        return out
    ma, mb = both["median_ms_a"].to_numpy(float), both["median_ms_b"].to_numpy(float)
    d = np.log(mb / ma)
    var = both["_sigma_a"].to_numpy(float) ** 2 + both["_sigma_b"].to_numpy(float) ** 2
    m = len(d)
    dof = 2 * thresholds.prior_dof + both["_n_rounds_a"].to_numpy(float) + both["_n_rounds_b"].to_numpy(float) - 2
    null = np.ones(m, dtype=bool)
    for _ in range(EMPIRICAL_NULL_ROUNDS):
        # the run-wide shift and the points' run-to-run scatter from the points that did not change
        shift = float(np.median(d[null]))
        spread = robust_scale(d[null]) if null.sum() >= 3 else 0.0
        tau2 = max(0.0, spread**2 - float(np.median(var[null]))) if np.isfinite(spread) else 0.0
        se = np.sqrt(var + tau2)
        p = 2 * student_t.sf(np.abs((d - shift) / se), dof)
        q = false_discovery_control(p)
        changed = q < alpha
        if np.array_equal(~changed, null) or changed.all():
            break
        null = ~changed
    shift_se = 1.2533 * math.sqrt(float(np.median(var[null])) + tau2) / math.sqrt(max(int(null.sum()), 1))
    floors = np.r_[both["_floor_a"].to_numpy(float), both["_floor_b"].to_numpy(float)]
    floor = float(np.nanmax(floors)) if np.isfinite(floors).any() else 0.0
    big = np.abs(np.expm1(d - shift)) >= max(min_change, floor)
    crit = student_t.ppf(0.975, dof)
    out = both[[*keys, "op", "dtype", "params_json"]].copy()
    out["config"] = [_label(o, pj, dt) for o, pj, dt in zip(out["op"], out["params_json"], out["dtype"], strict=True)]
    out["median_a_ms"], out["median_b_ms"] = ma, mb
    out["change"] = mb / ma - 1.0
    out["change_net"] = np.expm1(d - shift)
    out["ci_low"], out["ci_high"] = np.expm1(d - shift - crit * se), np.expm1(d - shift + crit * se)
    out["rounds_a"], out["rounds_b"] = both["_n_rounds_a"].astype(int), both["_n_rounds_b"].astype(int)
    out["p_value"], out["q_value"] = p, q
    out["significant"] = (q < alpha) & big
    out["verdict"] = np.where(out["significant"], "changed", np.where(big, "unresolved", ""))
    out["direction"] = np.where(~out["significant"], "", np.where(d - shift > 0, "slower", "faster"))
    out = out.reset_index(drop=True)
    out.attrs.update(shift=math.expm1(shift), shift_low=math.expm1(shift - 1.96 * shift_se),
                     shift_high=math.expm1(shift + 1.96 * shift_se), tau=math.sqrt(tau2), floor=floor, points=m)
    return out


def significant_changes(comparison: pd.DataFrame) -> pd.DataFrame:
    """The significant rows of :func:`compare_runs`, largest net change first."""
    sig = comparison[comparison["significant"].astype(bool)]
    return sig.reindex(sig["change_net"].abs().sort_values(ascending=False).index)


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}%" if np.isfinite(v) else "–"


def comparison_table(comparison: pd.DataFrame, limit: int = 50, *, every: bool = False) -> Table:
    """Changes as a :class:`Table`: one row per configuration (op, parameters, dtype), medians
    of both runs, the change net of the run-wide shift with its 95 % interval, q-value and
    verdict; significant rows (or every row with ``every``), largest change first."""
    rows = comparison if every else significant_changes(comparison)
    rows = rows.reindex(rows["change_net"].abs().sort_values(ascending=False).index).head(limit)
    index = ["device", "config"] if "device" in rows.columns else ["config"]
    frame = rows.set_index(index)[["median_a_ms", "median_b_ms", "change", "change_net", "ci_low", "ci_high",
                                   "q_value", "verdict"]]
    frame = frame.rename(columns={"median_a_ms": "A (ms)", "median_b_ms": "B (ms)", "change": "change",
                                  "change_net": "net of shift", "ci_low": "95% low", "ci_high": "95% high",
                                  "q_value": "q"})

    def fmt(v: object) -> str:
        return str(v) if not isinstance(v, (float, np.floating)) else f"{v:.4g}"

    shown = frame.copy()
    for col in ("change", "net of shift", "95% low", "95% high"):
        shown[col] = shown[col].map(_pct)
    caption = ("Every point" if every else "Significant changes") + \
        " from run A to run B (rounds as the unit, net of the run-wide shift, BH-adjusted)"
    shift = comparison.attrs.get("shift", float("nan"))
    notes = (f"Run-wide shift {_pct(shift)} (95% {_pct(comparison.attrs.get('shift_low', np.nan))} to "
             f"{_pct(comparison.attrs.get('shift_high', np.nan))}); run-to-run scatter of single points "
             f"{100 * comparison.attrs.get('tau', 0.0):.1f}%; changes below "
             f"{100 * max(MIN_CHANGE, comparison.attrs.get('floor', 0.0)):.1f}% are not claimed.")
    return Table("comparison", caption, shown, fmt, notes=notes, extra={"raw": frame})


def csv_frame(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison for ``--format csv``: configuration and parameters, numbers raw (fractions)."""
    cols = [c for c in ("device", "config", "op", "dtype", "params_json") if c in comparison.columns]
    return comparison[cols + ["median_a_ms", "median_b_ms", "change", "change_net", "ci_low", "ci_high", "rounds_a",
                              "rounds_b", "p_value", "q_value", "verdict", "direction"]]


#: Manifest facts that must agree for two runs to be compared (pyperf refuses otherwise).
COMPARABILITY_KEYS: tuple[str, ...] = ("protocol", "runtime version", "device", "format")


def comparability(manifest: dict[str, Any]) -> dict[str, Any]:
    """The :data:`COMPARABILITY_KEYS` of one run's manifest."""
    runtime = manifest.get("runtime")
    env = manifest.get("environment") or {}
    versions = (env.get("agent") or {}).get("runtimes") or {}
    version = versions.get(runtime) if isinstance(versions, dict) else None
    if version is None:
        version = ((env.get("controller") or {}).get("versions") or {}).get(runtime)
    device = manifest.get("device") or {}
    definition = device.get("definition") if isinstance(device, dict) else None
    return {"protocol": manifest.get("protocol"), "runtime version": f"{runtime} {version}",
            "device": {"name": manifest.get("device_name"), "definition": definition,
                       "cpu": (env.get("agent") or {}).get("cpu_model")},
            "format": manifest.get("format")}


def incomparable(manifest_a: dict[str, Any], manifest_b: dict[str, Any]) -> list[str]:
    """What differs between two runs' :func:`comparability` facts, one line per differing
    field (``protocol.min_runs: 15 vs 20``)."""
    ka, kb = comparability(manifest_a), comparability(manifest_b)
    out: list[str] = []
    for key in COMPARABILITY_KEYS:
        out.extend(_differences(key, ka[key], kb[key]))
    return out


def _differences(path: str, a: Any, b: Any) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [line for k in sorted(set(a) | set(b), key=str)
                for line in _differences(f"{path}.{k}", a.get(k), b.get(k))]
    return [] if a == b else [f"{path}: {_short(a)} vs {_short(b)}"]


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v
    return text if len(text) <= 120 else text[:117] + "..."
