"""Which points to measure again: the candidates the detectors could not decide.

After the planned rounds, the pipeline re-measures the jobs :func:`points_to_confirm` returns
in extra interleaved rounds (``hwbehave run --confirm-s``), then analyses again. Only
``unresolved`` anomalies ask for points: a candidate step, dip, overhead, dtype slowdown or
cost mismatch whose test reached ``alpha_unresolved`` but not ``alpha``, or whose rounds
disagree. Re-measuring narrows each point's between-round interval; it cannot remove the
point-to-point scatter of a series, so a candidate that stays unresolved after confirmation
is reported as such.
"""

from __future__ import annotations

import pandas as pd

from suite.analysis.detect import detect_all
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import UNRESOLVED

#: Detectors whose unresolved candidates name points to re-measure, in order of priority.
CONFIRMING_DETECTORS: tuple[str, ...] = ("staircase", "non_monotonic", "overhead", "dtype_speed", "cost_mismatch")


def points_to_confirm(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                      limit: int | None = None) -> list[str]:
    """Job ids whose re-measurement would let a detector decide, most useful first.

    Parameters
    ----------
    df : DataFrame
        Measurements of the run so far (contract v2: one row per job; v1 rows per round work too).
    thresholds : Thresholds
        The detectors' thresholds (``alpha``, ``alpha_unresolved`` decide what is unresolved).
    limit : int, optional
        At most this many job ids.

    Returns
    -------
    list of str
        Job ids (``job_id`` column, else ``point_id``) from the ``confirm_jobs`` evidence of every
        unresolved anomaly, the largest candidate effect first, without duplicates.
    """
    if df.empty:
        return []
    found = [a for a in detect_all(df, thresholds, only=list(CONFIRMING_DETECTORS)) if a.verdict == UNRESOLVED]
    found.sort(key=lambda a: (CONFIRMING_DETECTORS.index(_detector(a.kind)), -a.magnitude))
    jobs: list[str] = []
    for a in found:
        jobs.extend(str(j) for j in a.evidence.get("confirm_jobs", []))
    out = list(dict.fromkeys(jobs))
    return out[:limit] if limit is not None else out


def _detector(kind: str) -> str:
    if kind == "staircase":
        return "staircase"
    if kind == "non_monotonic":
        return "non_monotonic"
    if kind.endswith("_overhead"):
        return "overhead"
    if kind == "dtype_slower":
        return "dtype_speed"
    return "cost_mismatch"
