"""History: the same (device, sweep) measured again and again — where did a point's latency step?

For every point, the runs are ordered by creation time and each run contributes one value
(the median of its rounds' medians, with the widest CI half-width of those rounds). Steps
over time are found with the analysis stage's weighted L1 Potts model
(:func:`suite.analysis.steps.solve_potts_l1`, weights 1 / CI half-width, penalty
``step_penalty * log(n)`` CI units per segment) — the same detector as latency-vs-channels
staircases, applied along time as asv does. A boundary is kept when the two segment levels
(weighted medians) differ by more than the sum of their CI half-widths and by at least
``step_min_rel``; drops (faster) and rises (slower) both count.

Every step is reported with the environment difference between the last run before it and
the first run after it (suite version and commit, runtime versions, kernel, governor,
device definition, protocol), read from the manifests: the usual reason for a step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from suite import status as st
from suite.analysis.steps import solve_potts_l1
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.errors import ResultsError
from suite.results.query import find_runs, load
from suite.results.store import read_manifest


@dataclass(frozen=True)
class HistoryStep:
    """A lasting change of one point's latency between two runs."""

    device: str
    sweep: str
    point_id: str
    op: str
    dtype: str
    params: dict[str, Any]
    before_run: str
    after_run: str
    before_at: str
    after_at: str
    before_ms: float
    after_ms: float
    change: float
    runs_before: int
    runs_after: int
    env_diff: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return "slower" if self.after_ms > self.before_ms else "faster"


@dataclass(frozen=True)
class PointHistory:
    """One point's value per run, oldest first (NaN where the run has no timing for it)."""

    sweep: str
    point_id: str
    op: str
    dtype: str
    params: dict[str, Any]
    runs: tuple[str, ...]
    created_at: tuple[str, ...]
    latency_ms: np.ndarray
    half_ms: np.ndarray


def point_label(op: str, params: dict[str, Any], dtype: str, keys: Iterable[str] | None = None) -> str:
    """``conv2d cout=16 fp32``: the op, its parameters (only ``keys`` when given) and dtype.

    Parameters without a value are left out: in a legend over several ops, ``mbv2_block``
    has no ``activation`` and must not read ``activation=None``.
    """
    names = list(params) if keys is None else list(keys)
    shown = " ".join(f"{k}={params[k]}" for k in names if params.get(k) is not None)
    return " ".join(x for x in (op, shown, dtype) if x)


def _weighted_median(y: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(y)
    cw = np.cumsum(w[order])
    return float(y[order][np.searchsorted(cw, cw[-1] / 2.0)])


def history_steps(y: np.ndarray, half: np.ndarray, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[int]:
    """Indices ``i`` where a lasting step starts (value ``i`` differs from value ``i-1``'s segment).

    Parameters
    ----------
    y : array of float
        One latency per run, oldest first (ms).
    half : array of float
        95 % CI half-width of each value (ms); floored at 0.1 % of the value.
    thresholds : Thresholds
        ``step_penalty`` (CI units per segment, times ``log n``) and ``step_min_rel``.
    """
    n = len(y)
    if n < 2:
        return []
    h = np.maximum(half, 1e-3 * np.abs(y)) + 1e-12
    ends = solve_potts_l1(y, 1.0 / h, thresholds.step_penalty * math.log(max(n, 2)))
    bounds = [0, *ends]
    out = []
    for k in range(1, len(bounds) - 1):
        a, b, c = bounds[k - 1], bounds[k], bounds[k + 1]
        lo = _weighted_median(y[a:b], 1.0 / h[a:b])
        hi = _weighted_median(y[b:c], 1.0 / h[b:c])
        h_lo, h_hi = float(np.median(h[a:b])), float(np.median(h[b:c]))
        if abs(hi - lo) > h_lo + h_hi and abs(hi - lo) >= thresholds.step_min_rel * lo:
            out.append(b)
    return out


def point_histories(df: pd.DataFrame, runs: list[dict[str, Any]]) -> list[PointHistory]:
    """Per point, one value per run (runs as manifests, ordered by ``created_at``)."""
    order = [r["run_id"] for r in runs]
    created = {r["run_id"]: r.get("created_at", "") for r in runs}
    data = df[df["status"].isin(list(st.TIMED)) & df["median_ms"].notna()].copy()
    if data.empty:
        return []
    data["_half"] = (data["ci_high_ms"].astype(float) - data["ci_low_ms"].astype(float)).abs() / 2.0
    out = []
    for (sweep, pid), g in data.groupby(["sweep", "point_id"], sort=True):
        per_run = g.groupby("run_id").agg(median_ms=("median_ms", "median"), half=("_half", "max"))
        ids = [r for r in order if r in per_run.index]
        first = g.iloc[0]
        params = json.loads(first["params_json"]) if isinstance(first.get("params_json"), str) else {}
        out.append(PointHistory(sweep=str(sweep), point_id=str(pid), op=str(first["op"]), dtype=str(first["dtype"]),
                                params=params, runs=tuple(ids), created_at=tuple(created[r] for r in ids),
                                latency_ms=per_run.loc[ids, "median_ms"].to_numpy(float),
                                half_ms=per_run.loc[ids, "half"].to_numpy(float)))
    return out


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = d
    return out


#: Manifest facts compared across a step (volatile readings such as clocks and temperatures
#: are left out of the diff: they differ every run).
_ENV_IGNORE = ("cpu_freq_mhz", "temperatures_c", "hostname", "python_executable", "pid", "mem_total_mb")


def comparable_environment(manifest: dict[str, Any]) -> dict[str, Any]:
    """The facts of a run that can explain a step, flattened to ``a.b.c: value``."""
    env = manifest.get("environment", {})
    device_env = env.get("device", {})
    first_round = device_env.get(sorted(device_env)[0], {}).get("start", {}) if device_env else {}
    facts = {
        "suite_version": manifest.get("suite_version"), "git_commit": manifest.get("git_commit"),
        "runtime": manifest.get("runtime"), "format": manifest.get("format"), "protocol": manifest.get("protocol"),
        "device": (manifest.get("device") or {}).get("definition"),
        "device_env": {k: v for k, v in first_round.items() if k not in _ENV_IGNORE},
        "agent": {k: v for k, v in (env.get("agent") or {}).items() if k not in ("type",)},
        "controller": {k: v for k, v in (env.get("controller") or {}).items() if k not in _ENV_IGNORE + ("user",)},
    }
    return _flatten(facts)


def environment_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{fact: [before, after]}`` for every comparable fact that differs."""
    a, b = comparable_environment(before), comparable_environment(after)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def device_runs(roots: Iterable[str | Path], device: str, sweep: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Run directories of ``device`` (and ``sweep``, by name) under ``roots``, oldest first."""
    found = []
    for run in find_runs(roots):
        m = read_manifest(run)
        if m.get("device_name") != device:
            continue
        if sweep is not None and (m.get("sweep") or {}).get("name") != sweep:
            continue
        found.append((run, m))
    return sorted(found, key=lambda x: x[1].get("created_at", ""))


def device_history(roots: Iterable[str | Path], device: str, sweep: str | None = None,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[list[PointHistory], list[HistoryStep]]:
    """Per-point histories of ``device`` and the steps found in them."""
    runs = device_runs(roots, device, sweep)
    if not runs:
        raise ResultsError(f"no runs of device {device}" + (f" and sweep {sweep}" if sweep else "")
                           + " under " + ", ".join(map(str, roots)))
    manifests = {m["run_id"]: m for _, m in runs}
    df = load([r for r, _ in runs])
    histories = point_histories(df, [m for _, m in runs])
    steps = []
    for h in histories:
        ok = np.isfinite(h.latency_ms) & np.isfinite(h.half_ms)
        idx = np.flatnonzero(ok)
        for b in history_steps(h.latency_ms[ok], h.half_ms[ok], thresholds):
            i_before, i_after = idx[b - 1], idx[b]
            seg_before = h.latency_ms[ok][:b]
            seg_after = h.latency_ms[ok][b:]
            before_ms, after_ms = float(np.median(seg_before)), float(np.median(seg_after))
            rb, ra = h.runs[i_before], h.runs[i_after]
            steps.append(HistoryStep(device=device, sweep=h.sweep, point_id=h.point_id, op=h.op, dtype=h.dtype,
                                     params=h.params, before_run=rb, after_run=ra, before_at=h.created_at[i_before],
                                     after_at=h.created_at[i_after], before_ms=before_ms, after_ms=after_ms,
                                     change=after_ms / before_ms - 1.0, runs_before=len(seg_before),
                                     runs_after=len(seg_after),
                                     env_diff=environment_diff(manifests[rb], manifests[ra])))
    return histories, steps
