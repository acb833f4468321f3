"""Which points need more rounds before a detector can decide (adaptive confirmation, issue 10).

After the planned rounds the pipeline (:mod:`suite.pipeline`) calls :func:`points_to_confirm`
on the run's measurements (one row per job, the columns of results contract v2) and measures
the jobs it returns in extra interleaved, re-shuffled rounds, within the run's confirmation
budget (``--confirm-s``), asking again after each extra round. The order of the list is the
priority: when the budget does not cover them all, the first ones are measured.

The rule here is the first, simple one: a point whose rounds disagree more than the run
resolves, i.e. whose between-round interval is wider than the run's noise floor
(``ci_high_ms / median_ms − 1 > noise_floor_rel``; :data:`DEFAULT_SPREAD` when the run has
no floor), is not yet known to the precision the run can resolve, so one more round of it is
the cheapest way to tighten its interval. Widest first. (The interval, not the range of the
round medians: the range grows with every round, the interval shrinks, so the rule settles.)
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from suite import status

#: Interval half-width (relative) above which a point is re-measured when the run has no noise floor.
DEFAULT_SPREAD = 0.05


def points_to_confirm(df: pd.DataFrame, thresholds: Any = None) -> list[str]:
    """Job ids whose uncertainty keeps a detector from deciding, most uncertain first.

    Parameters
    ----------
    df : DataFrame
        Measurements of one run (``job_id``, ``status``, ``median_ms``, ``ci_high_ms``, ``noise_floor_rel``).
    thresholds : optional
        Detector thresholds (:class:`suite.analysis.thresholds.Thresholds`); unused by this rule.

    Returns
    -------
    list of str
        ``job_id`` values: timed points whose interval's upper half is wider than the floor.
    """
    if df.empty or not {"job_id", "status", "median_ms", "ci_high_ms"} <= set(df.columns):
        return []
    timed = df[df["status"].isin(list(status.TIMED)) & df["median_ms"].gt(0) & df["ci_high_ms"].notna()].copy()
    if timed.empty:
        return []
    floors = pd.to_numeric(timed.get("noise_floor_rel"), errors="coerce").dropna() \
        if "noise_floor_rel" in timed.columns else pd.Series(dtype=float)
    floor = float(floors.iloc[0]) if len(floors) and math.isfinite(float(floors.iloc[0])) else DEFAULT_SPREAD
    timed["_half_rel"] = timed["ci_high_ms"].astype(float) / timed["median_ms"].astype(float) - 1.0
    wide = timed[timed["_half_rel"] > floor]
    wide = wide.sort_values(["_half_rel", "job_id"], ascending=[False, True])
    return [str(j) for j in wide["job_id"]]
