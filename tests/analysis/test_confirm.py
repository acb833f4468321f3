"""The first confirmation rule: points whose between-round interval is wider than the run resolves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.analysis.confirm import DEFAULT_SPREAD, points_to_confirm


def frame(half_rel: list[float], floor: float | None, statuses: list[str] | None = None) -> pd.DataFrame:
    n = len(half_rel)
    return pd.DataFrame({"job_id": [f"j{i}" for i in range(n)], "status": statuses or ["ok"] * n,
                         "median_ms": np.ones(n), "ci_high_ms": 1.0 + np.asarray(half_rel),
                         "noise_floor_rel": np.full(n, np.nan if floor is None else floor)})


def test_wider_than_the_floor_widest_first():
    assert points_to_confirm(frame([0.01, 0.08, 0.03, 0.05], floor=0.04)) == ["j1", "j3"]


def test_failed_points_are_never_confirmed_and_no_floor_uses_the_default():
    df = frame([0.2, 0.2, DEFAULT_SPREAD / 2], floor=None, statuses=["crashed", "ok", "ok"])
    df.loc[0, ["median_ms", "ci_high_ms"]] = np.nan
    assert points_to_confirm(df) == ["j1"]
    assert points_to_confirm(df.iloc[:0]) == []
