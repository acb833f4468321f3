"""Slicing measurements into comparable groups: timed rows, parameter columns, axis series.

A *series along an axis* holds the points of one (device, sweep, runtime, op, dtype) whose
parameters are all equal except ``axis``; it is what a latency-vs-channels plot shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from suite import status
from suite.results.schema import ALL_FIXED

#: Columns that identify where a measurement was taken; every comparison stays inside one
#: (``timing``: a finding never mixes timing kinds, docs/architecture.md §5).
PLACE_COLUMNS: tuple[str, ...] = ("device", "sweep", "runtime", "op", "dtype", "timing")

#: Timing kinds a latency detector may use: ``emulated`` timings (an accelerator emulated on the
#: host) are valid for support and accuracy, never for latency.
LATENCY_TIMINGS: tuple[str, ...] = ("measured", "summary", "estimated")

#: Bulky per-row payloads :func:`timed` leaves out (quantization error reads the full frame).
PAYLOAD_COLUMNS: tuple[str, ...] = ("samples_ms", "output_json")

#: z of a two-sided 95 % interval; used only to rebuild a CI from std and n when one is missing.
Z95 = 1.959963984540054
#: Asymptotic efficiency of the median vs the mean for normal data: se(median) = 1.2533 * se(mean).
MEDIAN_SE_FACTOR = 1.2533141373155001


def param_columns(df: pd.DataFrame) -> list[str]:
    """Names of the op-parameter columns (everything beyond the schema's fixed columns)."""
    return [c for c in df.columns if c not in ALL_FIXED and not c.startswith("_")]


def with_param_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with one column per op parameter, expanded from ``params_json`` when missing."""
    if param_columns(df) or "params_json" not in df.columns or df.empty:
        return df
    params = pd.DataFrame([json.loads(p) if isinstance(p, str) and p else {} for p in df["params_json"]],
                          index=df.index)
    params = params.drop(columns=[c for c in params.columns if c in ALL_FIXED])
    return pd.concat([df, params], axis=1)


def ci_halfwidth_ms(df: pd.DataFrame) -> pd.Series:
    """Half-width of each row's 95 % CI of the median, in ms.

    From ``ci_low_ms``/``ci_high_ms``; where those are missing, ``1.96 * 1.2533 * std / sqrt(n)``;
    NaN where neither is known (such rows never count as significantly different).
    """
    half = (df["ci_high_ms"].astype(float) - df["ci_low_ms"].astype(float)) / 2.0
    if "std_ms" in df.columns and "n" in df.columns:
        n = df["n"].astype(float).where(df["n"].astype(float) > 0)
        rebuilt = Z95 * MEDIAN_SE_FACTOR * df["std_ms"].astype(float) / np.sqrt(n)
        half = half.fillna(rebuilt)
    return half.abs()


def timed(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry a usable latency (status ok or fallback, finite positive median, a timing
    kind of :data:`LATENCY_TIMINGS`), with ``_half_ms`` (CI half-width) added, parameter columns
    ensured and :data:`PAYLOAD_COLUMNS` dropped.

    A frame that already has ``_half_ms`` is returned as is."""
    if "_half_ms" in df.columns:  # already prepared (detect_all prepares once for every detector)
        return df
    if df.empty:
        out = df.copy()
        out["_half_ms"] = pd.Series(dtype=float)
        return out
    mask = df["status"].isin(status.TIMED) & np.isfinite(df["median_ms"].astype(float)) & (df["median_ms"] > 0)
    if "timing" in df.columns:
        mask &= df["timing"].fillna("measured").isin(LATENCY_TIMINGS)
    # raw samples and output digests are not needed by latency detectors, and costly to copy
    keep = [c for c in df.columns if c not in PAYLOAD_COLUMNS]
    out = with_param_columns(df[keep] if mask.all() else df.loc[mask, keep])
    out = out.copy() if out is df else out
    out["_half_ms"] = ci_halfwidth_ms(out)
    return out


def significantly_greater(a: np.ndarray, ha: np.ndarray, b: np.ndarray, hb: np.ndarray) -> np.ndarray:
    """``a > b`` beyond both CIs: ``a - ha > b + hb`` (NaN half-widths give False)."""
    with np.errstate(invalid="ignore"):
        return np.asarray((a - ha) > (b + hb)) & np.isfinite(ha) & np.isfinite(hb)


def is_bool_column(s: pd.Series) -> bool:
    """Whether a parameter column holds booleans (nulls aside)."""
    if pd.api.types.is_bool_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        return False
    values = pd.unique(s.dropna())
    return len(values) > 0 and all(isinstance(v, (bool, np.bool_)) for v in values)


def numeric_axes(df: pd.DataFrame) -> list[str]:
    """Parameter columns holding numbers (not booleans) that vary within the frame."""
    axes = []
    for col in param_columns(df):
        s = df[col]
        if is_bool_column(s):
            continue
        if pd.api.types.is_numeric_dtype(s):
            values = s
        else:
            uniques = pd.unique(s.dropna())
            if any(isinstance(v, (bool, np.bool_, str)) for v in uniques):
                continue
            values = pd.to_numeric(s, errors="coerce")
        if values.notna().sum() == 0 or values.nunique() < 2:
            continue
        axes.append(col)
    return axes


@dataclass(frozen=True)
class AxisSeries:
    """Points of one place with every parameter fixed but ``axis``, sorted by the axis.

    ``key`` holds the place columns and the fixed parameters; arrays are aligned. Repeated
    measurements of one axis value (repeat rounds) are merged: median of medians, widest CI.
    """

    key: dict
    axis: str
    x: np.ndarray
    latency_ms: np.ndarray
    half_ms: np.ndarray
    macs: np.ndarray
    flops: np.ndarray
    bytes_total: np.ndarray
    point_ids: tuple[str, ...]

    @property
    def fixed_params(self) -> dict:
        """The parameters held fixed (key minus place columns, nulls dropped)."""
        return {k: v for k, v in self.key.items() if k not in PLACE_COLUMNS and _present(v)}

    def describe(self, limit: int = 4) -> str:
        """Short label: ``fp32, cin=32 kernel=3 resolution=56``."""
        fixed = [f"{k}={_fmt(v)}" for k, v in self.fixed_params.items() if k not in ("batch", "bias", "padding")]
        return ", ".join([self.key.get("dtype", "")] + ([" ".join(fixed[:limit])] if fixed else []))


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and v is not pd.NA


def _fmt(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def iter_axis_series(df: pd.DataFrame, axis: str, min_points: int = 4) -> Iterator[AxisSeries]:
    """Yield every series along ``axis`` with at least ``min_points`` distinct axis values.

    ``df`` must come from :func:`timed`. Groups are formed by the place columns and every
    other parameter column (nulls kept as their own value). Works on numpy arrays after one
    ``groupby().ngroup()``, so it stays fast with tens of thousands of series.
    """
    if axis not in df.columns or df.empty:
        return
    params = [c for c in param_columns(df) if c != axis]
    keys = [c for c in PLACE_COLUMNS if c in df.columns] + params
    sub = df[df[axis].notna()]
    if sub.empty:
        return
    gid = sub.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    x = pd.to_numeric(sub[axis]).to_numpy(dtype=float)
    order = np.lexsort((x, gid))
    gid, x = gid[order], x[order]
    new_group = np.r_[True, gid[1:] != gid[:-1]]
    new_value = new_group | np.r_[True, x[1:] != x[:-1]]
    distinct = np.bincount(gid, weights=new_value)
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], len(gid)]
    wanted = distinct[gid[starts]] >= min_points
    if not wanted.any():
        return
    cols = {"lat": sub["median_ms"].to_numpy(float)[order], "half": sub["_half_ms"].to_numpy(float)[order],
            "macs": _num(sub, "macs")[order], "flops": _num(sub, "flops")[order],
            "bytes": _num(sub, "bytes_total")[order]}
    pids = (sub["point_id"].astype(str).to_numpy()[order] if "point_id" in sub.columns
            else np.full(len(sub), "", dtype=object))
    key_rows = sub[keys].to_numpy(dtype=object)[order]
    for a, b in zip(starts[wanted], ends[wanted], strict=True):
        key = {k: _plain_value(v) for k, v in zip(keys, key_rows[a], strict=True)}
        sl = slice(a, b)
        xs = x[sl]
        arrays = {name: arr[sl] for name, arr in cols.items()}
        ids = pids[sl]
        if (b - a) != distinct[gid[a]]:  # repeat rounds: merge per axis value
            arrays, ids, xs = _merge_repeats(xs, arrays, ids)
        yield AxisSeries(key=key, axis=axis, x=xs, latency_ms=arrays["lat"], half_ms=arrays["half"],
                         macs=arrays["macs"], flops=arrays["flops"], bytes_total=arrays["bytes"],
                         point_ids=tuple(ids))


def all_axis_series(df: pd.DataFrame, min_points: int = 3, axes: list[str] | None = None) -> list[AxisSeries]:
    """Every series along every numeric axis (or ``axes``) of a :func:`timed` frame.

    ``detect_all`` builds this list once and hands it to the along-axis detectors.
    """
    return [s for axis in (axes if axes is not None else numeric_axes(df))
            for s in iter_axis_series(df, axis, min_points)]


def _plain_value(v):
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def _merge_repeats(x: np.ndarray, arrays: dict, ids: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """Median latency and widest CI per axis value; cost columns and id from the first row."""
    values, first = np.unique(x, return_index=True)
    inverse = np.searchsorted(values, x)
    merged = {name: arr[first].copy() for name, arr in arrays.items()}
    for k in range(len(values)):
        rows = inverse == k
        merged["lat"][k] = np.median(arrays["lat"][rows])
        merged["half"][k] = np.max(arrays["half"][rows])
    return merged, ids[first], values


def _num(g: pd.DataFrame, col: str) -> np.ndarray:
    if col not in g.columns:
        return np.full(len(g), np.nan)
    return pd.to_numeric(g[col], errors="coerce").to_numpy(dtype=float)


#: How a message names an axis ("steps of 16 output channels"); other axes keep their name.
AXIS_WORDS: dict[str, str] = {"cout": "output channels", "cin": "input channels", "channels": "channels",
                              "resolution": "pixels of resolution", "kernel": "kernel size", "width": "width",
                              "batch": "batch size"}


def axis_words(axis: str) -> str:
    """The axis as words for a message."""
    return AXIS_WORDS.get(axis, axis)


def fmt_axis_value(v: float) -> str:
    """An axis value as people write it (``16``, not ``16.0``)."""
    return _fmt(float(v))


def pct(fraction: float) -> str:
    """``0.384`` → ``"38%"``; small values keep a decimal (``"4.2%"``)."""
    p = 100.0 * fraction
    return f"{p:.0f}%" if abs(p) >= 10 else f"{p:.1f}%"
