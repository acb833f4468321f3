"""Slicing measurements into comparable groups: timed rows, parameter columns, axis series.

A *series along an axis* holds the points of one (device, sweep, runtime, op, dtype) whose
parameters are all equal except ``axis``; it is what a latency-vs-channels plot shows.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suite import status
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.timing import by_timing, latency_rows
from suite.analysis.uncertainty import headline_factor
from suite.results.schema import ALL_FIXED
from suite.sweep.point import SHAPE_PARAMS

#: Columns that identify where a measurement was taken; every comparison stays inside one.
#: Timing kinds are kept apart by ``device`` itself: :func:`timed` names a device's rows of
#: another kind ``"<device> (<kind>)"`` (:mod:`suite.analysis.timing`).
PLACE_COLUMNS: tuple[str, ...] = ("device", "sweep", "runtime", "op", "dtype")

#: Columns that are never op parameters: the schema's, and v1's per-round ``round``/``order``
#: (frames built by hand, one row per round, still carry them).
NOT_PARAMS: frozenset[str] = frozenset(ALL_FIXED) | {"round", "order"}

#: Bulky per-row payloads :func:`timed` leaves out (quantization error reads the full frame).
PAYLOAD_COLUMNS: tuple[str, ...] = ("samples_ms", "output_json")

#: z of a two-sided 95 % interval; used only to rebuild a CI from std and n when one is missing.
Z95 = 1.959963984540054
#: Asymptotic efficiency of the median vs the mean for normal data: se(median) = 1.2533 * se(mean).
MEDIAN_SE_FACTOR = 1.2533141373155001


def param_columns(df: pd.DataFrame) -> list[str]:
    """Names of the op-parameter columns (everything beyond the schema's fixed columns)."""
    return [c for c in df.columns if c not in NOT_PARAMS and not c.startswith("_")]


def with_param_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with one column per op parameter, expanded from ``params_json`` when missing."""
    if param_columns(df) or "params_json" not in df.columns or df.empty:
        return df
    params = pd.DataFrame([json.loads(p) if isinstance(p, str) and p else {} for p in df["params_json"]],
                          index=df.index)
    params = params.drop(columns=[c for c in params.columns if c in NOT_PARAMS])
    return pd.concat([df, params], axis=1)


def ci_halfwidth_ms(df: pd.DataFrame) -> pd.Series:
    """Half-width of each row's stored 95 % interval of the median, in ms.

    From ``ci_low_ms``/``ci_high_ms``; where those are missing, ``1.96 * 1.2533 * std / sqrt(n)``;
    NaN where neither is known.
    """
    half = (df["ci_high_ms"].astype(float) - df["ci_low_ms"].astype(float)) / 2.0
    if "std_ms" in df.columns and "n" in df.columns:
        n = df["n"].astype(float).where(df["n"].astype(float) > 0)
        rebuilt = Z95 * MEDIAN_SE_FACTOR * df["std_ms"].astype(float) / np.sqrt(n)
        half = half.fillna(rebuilt)
    return half.abs()


#: Columns :func:`timed` adds (one row per point): ``_sigma`` (relative standard error of the
#: headline, see :mod:`suite.analysis.uncertainty`), ``_rounds`` (round medians, ms, round
#: order), ``_n_rounds``, ``_floor`` (the run's noise floor, NaN if not measured), ``_half_ms``
#: (1.96 x ``_sigma`` x latency: the honest 95 % half-width, ms) and ``_job_ids``.
POINT_COLUMNS: tuple[str, ...] = ("_sigma", "_rounds", "_n_rounds", "_floor", "_half_ms", "_job_ids")


def timed(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """One row per point with a usable latency and its honest uncertainty.

    Rows with status ok/fallback, a finite positive median and a latency timing kind
    (:data:`suite.analysis.timing.LATENCY_TIMINGS`) are kept, each device's rows of another
    kind than ``measured`` as a device of their own (:func:`suite.analysis.timing.by_timing`);
    rows of one point (same place, ``format`` and ``point_id``: the rounds of a v1 run, or the
    same point in several runs) are merged:
    their round medians are pooled and the headline ``median_ms`` is their median. The columns of
    :data:`POINT_COLUMNS` are added (see :func:`point_uncertainty` for the model), parameter
    columns ensured and :data:`PAYLOAD_COLUMNS` dropped. A frame that already has ``_sigma`` is
    returned as is.
    """
    if "_sigma" in df.columns:  # already prepared (detect_all prepares once for every detector)
        return df
    keep = [c for c in df.columns if c not in PAYLOAD_COLUMNS]
    if not df.empty:
        df = by_timing(df)
        median = pd.to_numeric(df["median_ms"], errors="coerce").astype(float)
        mask = df["status"].isin(status.TIMED) & np.isfinite(median) & (median > 0) & latency_rows(df)
        if mask.any():
            return point_uncertainty(with_param_columns(df[keep] if mask.all() else df.loc[mask, keep]), thresholds)
    out = df.iloc[:0][keep].copy()
    for c in POINT_COLUMNS:
        out[c] = pd.Series(dtype=object if c in ("_rounds", "_job_ids") else float)
    return out


def _round_lists(df: pd.DataFrame) -> list[np.ndarray]:
    """Each row's round medians: ``round_median_ms`` (contract v2) or the row's own median."""
    med = df["median_ms"].to_numpy(float)
    if "round_median_ms" not in df.columns:
        return [np.array([m]) for m in med]
    out = []
    for m, r in zip(med, df["round_median_ms"].to_numpy(dtype=object), strict=True):
        arr = np.asarray(r, dtype=float) if r is not None and not np.isscalar(r) else np.empty(0)
        arr = arr[np.isfinite(arr) & (arr > 0)]
        out.append(arr if arr.size else np.array([m]))
    return out


def _round_values(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_round_lists` flattened: every row's round medians in row order, and how many each
    row has. One pass over the column's lists instead of an array per row (what matters with a
    million rows); a column whose lists hold something other than numbers takes the row-by-row
    path."""
    med = df["median_ms"].to_numpy(float)
    rows = len(med)
    if "round_median_ms" not in df.columns:
        return med.copy(), np.ones(rows, dtype=np.int64)
    col = df["round_median_ms"].to_numpy(dtype=object)
    seqs = [r if hasattr(r, "__len__") and not isinstance(r, str) else () for r in col]  # None, NaN: none
    try:
        given = np.fromiter(map(len, seqs), dtype=np.int64, count=rows)
        values = np.fromiter(itertools.chain.from_iterable(seqs), dtype=float, count=int(given.sum()))
    except (TypeError, ValueError):
        lists = _round_lists(df)
        return (np.concatenate(lists) if lists else np.empty(0),
                np.fromiter(map(len, lists), dtype=np.int64, count=rows))
    row = np.repeat(np.arange(rows), given)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(values) & (values > 0)
    kept = np.bincount(row[usable], minlength=rows)
    if kept.all():
        return values[usable], kept
    # rows without a usable round median keep their own median, in place
    none = np.flatnonzero(kept == 0)
    row_all = np.concatenate([row[usable], none])
    order = np.argsort(row_all, kind="stable")
    lengths = np.where(kept == 0, 1, kept)
    return np.concatenate([values[usable], med[none]])[order], lengths


#: Round deviations beyond this many typical between-round deviations count only this much.
WINSOR_K = 3.0

#: Median over points of the median absolute deviation of R standard normal values (R = 2..12,
#: by simulation): turns the run's typical MAD of round medians into a standard deviation.
_MEDIAN_MAD = {2: 0.4797, 3: 0.3615, 4: 0.4524, 5: 0.5027, 6: 0.5327, 7: 0.5585, 8: 0.5720, 9: 0.5857,
               10: 0.5945, 11: 0.6035, 12: 0.6080}


def median_mad_of_normal(rounds: int) -> float:
    """:data:`_MEDIAN_MAD` for ``rounds``; ``0.6745 * (1 - 1.18 / R)`` beyond the table."""
    return _MEDIAN_MAD.get(rounds, 0.6745 * (1 - 1.18 / max(rounds, 2)))


def point_uncertainty(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Merge the rows of each point and add :data:`POINT_COLUMNS` (model in
    :mod:`suite.analysis.uncertainty`).

    ``sigma`` (relative standard error of the headline, log units) is the largest of

    * the moderated between-round standard error ``c_R * s~ / sqrt(R)``, where ``s~^2`` pools the
      point's own between-round variance (R - 1 dof) with its run's typical between-round
      variance (``prior_dof`` dof; the median over the run's points of the median absolute
      deviation of their rounds, scaled to a standard deviation by :func:`median_mad_of_normal`);
      a run with a single round uses ``assumed_round_noise_rel``;
      a round *slower* than the point's median counts at most :data:`WINSOR_K` typical
      deviations (a slow spell in one of three rounds barely moves their median), a round
      faster than it in full (then most rounds ran slow and the median is the suspect); and the
      moderated variance is never below the point's own (moderation lends a point the run's
      typical variance, it does not talk down rounds that disagree);
    * the within-burst interval of the point (``ci_low_ms``/``ci_high_ms`` as a 95 % interval of
      a row holding one round: v1 rows, combined over the rounds of a v1 run; a v2 row with
      several rounds carries a between-round interval, which the first item recomputes).
    """
    keys = [c for c in (*PLACE_COLUMNS, "format") if c in df.columns]
    keys.append("point_id" if "point_id" in df.columns else "params_json")
    df = df.reset_index(drop=True)
    rows = len(df)
    gid = df.groupby(keys, dropna=False, sort=False).ngroup().to_numpy() if keys else np.arange(rows)
    if "round" in df.columns:  # v1 rounds: pool in round order
        order = np.lexsort((pd.to_numeric(df["round"], errors="coerce").fillna(0).to_numpy(), gid))
    else:
        order = np.argsort(gid, kind="stable")
    if not np.array_equal(order, np.arange(rows)):  # rows of a point apart (v1 rounds, several runs): gather them
        df, gid = df.iloc[order].reset_index(drop=True), gid[order]
    flat_rounds, lengths = _round_values(df)
    lat = df["median_ms"].to_numpy(float)
    half = ci_halfwidth_ms(df).to_numpy(float)
    sig_ci = np.where(np.isfinite(half) & (half > 0), half / (Z95 * lat), np.nan)
    run = df["run_id"].astype(str).to_numpy() if "run_id" in df.columns else np.full(rows, "")
    floor = (pd.to_numeric(df["noise_floor_rel"], errors="coerce").to_numpy(float)
             if "noise_floor_rel" in df.columns else np.full(rows, np.nan))
    jobs = (df["job_id"].astype(str).to_numpy() if "job_id" in df.columns
            else df["point_id"].astype(str).to_numpy() if "point_id" in df.columns else np.full(rows, ""))
    n_groups = int(gid.max()) + 1 if rows else 0
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]]) if rows else np.empty(0, int)
    ends = np.r_[starts[1:], rows]
    # every round of every point as one (points x rounds) log matrix, NaN-padded, round order kept
    flat = np.log(flat_rounds) if rows else np.empty(0)
    value_gid = np.repeat(gid, lengths)
    n_rounds = np.bincount(value_gid, minlength=n_groups).astype(float)
    first_value = np.r_[0, np.cumsum(n_rounds)[:-1]].astype(int)
    position = np.arange(flat.size) - first_value[value_gid]
    L = np.full((n_groups, int(n_rounds.max()) if n_groups else 1), np.nan)
    L[value_gid, position] = flat
    have = n_rounds >= 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of points timed once
        med = np.nanmedian(L, axis=1)
        mad = np.where(have, np.nanmedian(np.abs(L - med[:, None]), axis=1), np.nan)
    # the stored interval is a floor only where it is a within-burst CI: rows of one round (v1
    # rows, or a v2 point timed once); a v2 between-round interval is recomputed here
    usable = (lengths == 1) & np.isfinite(sig_ci)
    count = np.bincount(gid, weights=usable, minlength=n_groups)
    sq = np.bincount(gid, weights=np.where(usable, sig_ci, 0.0) ** 2, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        sig_stored = np.where(count > 0, np.sqrt(sq / np.maximum(count, 1) / np.maximum(count, 1)), np.nan)
    # one row per point (contract v2, one run): the frame itself, copy-on-write keeps the caller's intact
    first = df.copy(deep=False) if len(starts) == rows else df.iloc[starts].copy()
    first_run = run[starts]
    # the run's typical between-round variance, the prior of every point's variance: from the
    # median over points of each point's median absolute deviation of its rounds (robust twice: a
    # slow spell that hit one round of most points, or every round of a few, does not widen it)
    dof = np.maximum(n_rounds - 1, 0)
    pooled: dict[str, float] = {}
    for rid in np.unique(first_run[have]):
        sel = have & (first_run == rid)
        typical = float(np.median(mad[sel])) / median_mad_of_normal(int(np.median(n_rounds[sel])))
        pooled[rid] = max(typical, 1e-4) ** 2
    prior = np.array([pooled.get(rid, thresholds.assumed_round_noise_rel**2) for rid in first_run])
    # a round *slower* than the point's median by more than WINSOR_K typical deviations counts as
    # WINSOR_K: interference only slows a machine down, so one round in a slow spell moves the
    # median of three little. A round much *faster* than the median counts in full: then the
    # median itself is the suspect (most of its rounds ran in a spell).
    dev = np.minimum(L - med[:, None], WINSOR_K * np.sqrt(prior)[:, None])
    own_var = np.where(have, np.nansum(dev**2, axis=1) / np.maximum(dof, 1), np.nan)
    d0 = thresholds.prior_dof
    moderated = np.where(have, (d0 * prior + dof * np.nan_to_num(own_var)) / (d0 + dof), prior)
    # moderation lends a point the run's typical variance; it never talks down a point whose own
    # rounds disagree (a round far faster than its median counts in full, see above)
    moderated = np.fmax(moderated, np.where(have, own_var, 0.0))
    sigma = headline_factor(n_rounds) * np.sqrt(moderated / np.maximum(n_rounds, 1))
    sigma = np.fmax(sigma, sig_stored)
    merged = np.exp(L)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first["median_ms"] = np.nanmedian(merged, axis=1)  # in ms, as the contract's headline
    first["_sigma"] = sigma
    first["_rounds"] = [row[:k] for row, k in zip(merged, n_rounds.astype(int), strict=True)]
    first["_n_rounds"] = n_rounds.astype(int)
    fl = pd.Series(floor).groupby(gid).max().reindex(range(n_groups)).to_numpy(float)
    first["_floor"] = fl
    first["_half_ms"] = Z95 * sigma * first["median_ms"].to_numpy(float)
    single = (ends - starts) == 1
    first["_job_ids"] = [(jobs[a],) if one else tuple(dict.fromkeys(jobs[a:b]))
                         for a, b, one in zip(starts, ends, single, strict=True)]
    return first.reset_index(drop=True)


def effect_floor(floor: float | np.ndarray, thresholds_min: float) -> float:
    """The smallest relative effect a detector may claim: its own threshold or the run's noise
    floor, whichever is larger (a NaN floor, i.e. not measured, is ignored)."""
    if isinstance(floor, float):  # one floor (a series'): plain float arithmetic, no array
        f1 = float(floor)
        return float(max(thresholds_min, f1 if math.isfinite(f1) else 0.0))
    f = np.asarray(floor, dtype=float)
    f = f[np.isfinite(f)]
    return float(max(thresholds_min, float(f.max()) if f.size else 0.0))


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

    ``key`` holds the place columns and the fixed parameters; arrays are aligned. ``sigma`` is
    each headline's relative standard error and ``half_ms`` its 95 % half-width (from
    :func:`timed`), ``rounds`` the round medians of each point, ``floor`` the largest noise
    floor of the runs involved (NaN if none was measured), ``job_ids`` the jobs behind each point.
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
    sigma: np.ndarray = field(default_factory=lambda: np.empty(0))
    rounds: tuple[np.ndarray, ...] = ()
    floor: float = float("nan")
    job_ids: tuple[tuple[str, ...], ...] = ()

    def jobs(self, idx: Iterable[int] | np.ndarray | None = None) -> list[str]:
        """Job ids of the points at ``idx`` (default: all), flattened."""
        picked = range(len(self.job_ids)) if idx is None else idx
        return [j for i in picked for j in self.job_ids[int(i)]]

    @property
    def fixed_params(self) -> dict:
        """The parameters held fixed (key minus place columns, nulls dropped)."""
        return {k: v for k, v in self.key.items() if k not in PLACE_COLUMNS and _present(v)}

    def describe(self, limit: int | None = None) -> str:
        """Short label: ``fp32, cin=32 kernel=3 resolution=56``.

        The parameters that fix the shape (:data:`SHAPE_PARAMS`) are always named, defaults or
        not (two series that differ only in kernel size must not read alike); the others only
        where they differ from the op's default (``stride=2``, ``activation=relu``). ``limit``
        keeps the first that many (shape parameters first).
        """
        from suite.sweep.point import changed_params

        params = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in self.fixed_params.items()
                  if k not in ("batch", "bias", "padding")}
        changed = dict(item.split("=", 1) for item in changed_params(str(self.key.get("op", "")), params).split())
        order = sorted(params, key=lambda k: k not in SHAPE_PARAMS)  # stable: the frame's order within each
        shown = [f"{k}={changed.get(k, _fmt(params[k]))}" for k in order if k in changed or k in SHAPE_PARAMS][:limit]
        return ", ".join([self.key.get("dtype", "")] + ([" ".join(shown)] if shown else []))



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
            "sigma": sub["_sigma"].to_numpy(float)[order], "floor": sub["_floor"].to_numpy(float)[order],
            "macs": _num(sub, "macs")[order], "flops": _num(sub, "flops")[order],
            "bytes": _num(sub, "bytes_total")[order]}
    round_col = sub["_rounds"].to_numpy(dtype=object)[order]
    job_col = sub["_job_ids"].to_numpy(dtype=object)[order]
    pids = (sub["point_id"].astype(str).to_numpy()[order] if "point_id" in sub.columns
            else np.full(len(sub), "", dtype=object))
    # the key of each wanted series from its first row only (converting every row to objects
    # cost more than the rest of the loop)
    firsts = sub[keys].iloc[order[starts[wanted]]]
    key_cols = [firsts[k].tolist() if firsts[k].dtype != object else [_plain_value(v) for v in firsts[k]]
                for k in keys]  # tolist gives Python scalars; object columns may hold numpy ones
    for key_row, a, b in zip(zip(*key_cols, strict=True), starts[wanted].tolist(), ends[wanted].tolist(),
                             strict=True):
        key = dict(zip(keys, key_row, strict=True))
        sl = slice(a, b)
        xs = x[sl]
        arrays = {name: arr[sl] for name, arr in cols.items()}
        ids = pids[sl]
        rounds, jobs = list(round_col[sl]), list(job_col[sl])
        if (b - a) != distinct[gid[a]]:  # the same axis value twice (e.g. two formats): merge
            arrays, ids, xs, rounds, jobs = _merge_repeats(xs, arrays, ids, rounds, jobs)
        floors = arrays["floor"][np.isfinite(arrays["floor"])]
        yield AxisSeries(key=key, axis=axis, x=xs, latency_ms=arrays["lat"], half_ms=arrays["half"],
                         macs=arrays["macs"], flops=arrays["flops"], bytes_total=arrays["bytes"],
                         point_ids=tuple(ids), sigma=arrays["sigma"], rounds=tuple(rounds),
                         floor=float(floors.max()) if floors.size else float("nan"), job_ids=tuple(jobs))


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


def _merge_repeats(x: np.ndarray, arrays: dict, ids: np.ndarray, rounds: list, jobs: list
                   ) -> tuple[dict, np.ndarray, np.ndarray, list, list]:
    """Per axis value: pooled rounds and their median, the widest interval, every job; cost
    columns and id from the first row."""
    values, first = np.unique(x, return_index=True)
    inverse = np.searchsorted(values, x)
    merged = {name: arr[first].copy() for name, arr in arrays.items()}
    out_rounds, out_jobs = [], []
    for k in range(len(values)):
        rows = np.flatnonzero(inverse == k)
        pooled = np.concatenate([rounds[i] for i in rows])
        out_rounds.append(pooled)
        out_jobs.append(tuple(j for i in rows for j in jobs[i]))
        merged["lat"][k] = np.median(pooled)
        for name in ("half", "sigma", "floor"):
            merged[name][k] = np.nanmax(arrays[name][rows]) if np.isfinite(arrays[name][rows]).any() else np.nan
    return merged, ids[first], values, out_rounds, out_jobs


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
