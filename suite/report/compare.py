"""Compare two runs point by point: change of the median and a Mann–Whitney U test on raw samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from suite import status
from suite.report.tables import Table

#: Defaults of :func:`compare_runs` (the report quotes them).
ALPHA = 0.05
MIN_CHANGE = 0.02
MIN_SAMPLES = 3

COMPARE_COLUMNS = ["op", "dtype", "params_json", "median_a_ms", "median_b_ms", "change", "n_a", "n_b", "p_value",
                   "q_value", "significant", "direction"]


def _per_point(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    timed = df[df["status"].isin(status.TIMED)]
    if timed.empty:
        return pd.DataFrame(columns=[*keys, "op", "dtype", "params_json", "median_ms", "samples"])

    def pool(samples: pd.Series) -> list[float]:
        out: list[float] = []
        for s in samples:
            if s is not None and len(s):
                out.extend(float(v) for v in s)
        return out

    return (timed.groupby(keys, sort=True, dropna=False)
            .agg(op=("op", "first"), dtype=("dtype", "first"), params_json=("params_json", "first"),
                 median_ms=("median_ms", "median"), samples=("samples_ms", pool))
            .reset_index())


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return q
    order = ok[np.argsort(p[ok])]
    m = len(order)
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, *, keys: Sequence[str] | None = None, alpha: float = ALPHA,
                 min_change: float = MIN_CHANGE) -> pd.DataFrame:
    """Per point present in both runs: medians, relative change and its significance.

    Model: ``change = median_b / median_a - 1`` (medians of the per-row medians when a point
    has repeat rounds). The two pooled raw sample sets are compared with a two-sided
    Mann–Whitney U test (``scipy.stats.mannwhitneyu``); p-values are adjusted for the number
    of points with Benjamini–Hochberg (false discovery rate ``alpha``). A change is
    ``significant`` when ``q < alpha`` and ``|change| >= min_change`` (2 %) — with thousands
    of samples, tiny shifts are "significant" but not worth a line. Points with fewer than
    3 samples on either side get no p-value.

    ``keys`` default to ``("device", "point_id")`` when the runs share a device, else
    ``("point_id",)`` (comparing two devices on the same sweep).
    """
    if keys is None:
        shared = set(a["device"].dropna()) & set(b["device"].dropna())
        keys = ["device", "point_id"] if shared else ["point_id"]
    keys = list(keys)
    pa, pb = _per_point(a, keys), _per_point(b, keys)
    both = pa.merge(pb[[*keys, "median_ms", "samples"]], on=keys, suffixes=("_a", "_b"), how="inner")
    if both.empty:
        return pd.DataFrame(columns=[*keys, *COMPARE_COLUMNS])
    p_values = []
    for sa, sb in zip(both["samples_a"], both["samples_b"], strict=True):
        if len(sa) < MIN_SAMPLES or len(sb) < MIN_SAMPLES:
            p_values.append(np.nan)
        else:
            p_values.append(float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue))
    out = both[[*keys, "op", "dtype", "params_json"]].copy()
    out["median_a_ms"], out["median_b_ms"] = both["median_ms_a"], both["median_ms_b"]
    out["change"] = out["median_b_ms"] / out["median_a_ms"] - 1.0
    out["n_a"], out["n_b"] = both["samples_a"].map(len), both["samples_b"].map(len)
    out["p_value"] = p_values
    out["q_value"] = benjamini_hochberg(np.array(p_values))
    out["significant"] = (out["q_value"] < alpha) & (out["change"].abs() >= min_change)
    out["direction"] = np.where(~out["significant"], "", np.where(out["change"] > 0, "slower", "faster"))
    return out.reset_index(drop=True)


def significant_changes(comparison: pd.DataFrame) -> pd.DataFrame:
    """The significant rows of :func:`compare_runs`, largest relative change first."""
    sig = comparison[comparison["significant"].astype(bool)]
    return sig.reindex(sig["change"].abs().sort_values(ascending=False).index)


def comparison_table(comparison: pd.DataFrame, limit: int = 50) -> Table:
    """Significant changes as a :class:`Table` (for md/LaTeX/CSV/HTML)."""
    sig = significant_changes(comparison).head(limit)
    key_cols = [c for c in ("device", "point_id") if c in sig.columns]
    frame = sig.set_index(key_cols)[["op", "dtype", "median_a_ms", "median_b_ms", "change", "q_value"]]

    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)

    return Table("comparison", "Significant changes from run A to run B (Mann-Whitney U, BH-adjusted)", frame, fmt)
