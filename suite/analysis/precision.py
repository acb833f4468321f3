"""Lower precision: speed (finding F5) and output deviation (finding F6) vs fp32.

Variants of one configuration share a ``config_id`` (same op, parameters, weights and
inputs); each non-fp32 row is paired with the fp32 row of the same config on the same
device and runtime.
"""

from __future__ import annotations

import io
import json
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from suite import status
from suite.analysis.pairs import compare_pairs, point_noise_of, run_floors, summarize_pairs
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import pct, timed
from suite.analysis.steps import MAX_CONFIRM_JOBS
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED

REFERENCE_DTYPE = "fp32"
_PAIR_KEYS = ["device", "runtime", "sweep", "config_id"]

SPEEDUP_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "config_id", "latency_ms", "fp32_ms", "speedup",
                   "z", "rounds_agree", "slower", "faster", "job_ids"]


def speedup_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                  point_noise: dict[str, float] | None = None) -> pd.DataFrame:
    """Every non-fp32 timed point with its fp32 twin: :data:`SPEEDUP_COLUMNS`.

    ``speedup = fp32_ms / latency_ms`` (2.0 = twice as fast). ``z`` is the pair statistic of
    :mod:`suite.analysis.pairs` (both headlines' between-round noise plus twice the device's
    point-to-point scatter); ``slower``: ``z`` clears the family-wise critical value and the
    variant is at least ``dtype_slower_min`` (5 %) slower; ``faster``: ``-z`` clears it.
    """
    data = timed(df, thresholds)
    if data.empty or "config_id" not in data.columns:
        return pd.DataFrame(columns=SPEEDUP_COLUMNS)
    ref = (data[data["dtype"] == REFERENCE_DTYPE].groupby(_PAIR_KEYS)
           .agg(reference_ms=("median_ms", "first"), _ref_sigma=("_sigma", "first"), _ref_rounds=("_rounds", "first"),
                _ref_jobs=("_job_ids", "first")))
    pairs = data[data["dtype"] != REFERENCE_DTYPE].join(ref, on=_PAIR_KEYS, how="inner")
    if pairs.empty:
        return pd.DataFrame(columns=SPEEDUP_COLUMNS)
    pairs = pairs.rename(columns={"median_ms": "latency_ms"}).assign(
        job_ids=[tuple(a) + tuple(b) for a, b in zip(pairs["_job_ids"], pairs["_ref_jobs"], strict=True)],
        cost_ratio=np.nan)
    if point_noise is None:
        point_noise = point_noise_of(data, thresholds)
    out = compare_pairs(pairs, thresholds.dtype_slower_min, thresholds, point_noise, ["sweep", "runtime", "op", "dtype"])
    out["fp32_ms"] = out["reference_ms"]
    out["speedup"] = out["fp32_ms"] / out["latency_ms"]
    out["slower"] = (out["z"] >= out["critical"]) & (out["overhead"] >= thresholds.dtype_slower_min)
    out["faster"] = -out["z"] >= out["critical"]
    out["significant"] = out["slower"]
    return out.reset_index(drop=True)[SPEEDUP_COLUMNS + ["overhead", "sd", "critical", "critical_unresolved",
                                                        "noise_rel", "significant", "cost_ratio"]]


def speedup_summary(frame: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                    floors: dict[str, float] | None = None) -> pd.DataFrame:
    """Median speedup per (device, sweep, runtime, op, dtype) with its 95 % interval
    (``speedup_low``/``speedup_high``), counts of slower/faster configurations and the
    ``verdict`` of a slowdown (:func:`suite.analysis.pairs.group_verdict`
    on ``latency / fp32 - 1`` with ``dtype_slower_min``)."""
    keys = ["device", "sweep", "runtime", "op", "dtype"]
    cols = [*keys, "speedup", "speedup_min", "speedup_max", "speedup_low", "speedup_high", "n", "n_slower",
            "n_faster", "verdict", "why", "slowdown", "z", "critical", "rounds_agree", "effect_floor", "noise_rel",
            "confirm_jobs"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    base = (frame.assign(slower=frame["slower"].astype(bool), faster=frame["faster"].astype(bool))
            .groupby(keys, sort=True, dropna=False)
            .agg(speedup=("speedup", "median"), speedup_min=("speedup", "min"), speedup_max=("speedup", "max"),
                 n=("speedup", "size"), n_slower=("slower", "sum"), n_faster=("faster", "sum"))
            .reset_index())
    verdicts = summarize_pairs(frame, keys, "slowdown", thresholds.dtype_slower_min, thresholds, floors)
    merged = base.merge(verdicts[[*keys, "verdict", "why", "slowdown", "slowdown_low", "slowdown_high", "z",
                                  "critical", "rounds_agree", "effect_floor", "noise_rel", "confirm_jobs"]],
                        on=keys, how="left")
    merged["speedup_low"] = 1.0 / (1.0 + merged["slowdown_high"])
    merged["speedup_high"] = 1.0 / (1.0 + merged["slowdown_low"])
    return merged[cols]


def find_dtype_slowdowns(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                         point_noise: dict[str, float] | None = None) -> list[Anomaly]:
    """F5 anomalies: a lower precision that runs slower than fp32.

    One per (device, sweep, runtime, op, dtype) whose slowdown verdict is ``confirmed`` (median
    slowdown at least ``max(dtype_slower_min, noise floor)``, at least half the configurations
    significantly slower, a single configuration's rounds agreeing) or ``unresolved``. Magnitude
    is the median slowdown ``1 / speedup - 1``.
    """
    out = []
    data = timed(df, thresholds)
    for row in speedup_summary(speedup_frame(data, thresholds, point_noise), thresholds,
                               run_floors(data)).itertuples(index=False):
        if not isinstance(row.verdict, str) or not row.verdict:
            continue
        slowdown = 1.0 / row.speedup - 1.0
        claim = (f"On {row.device}, {row.op} in {row.dtype} is {pct(slowdown)} slower than in fp32 "
                 f"(median of {row.n} configurations, {row.n_slower} significantly slower)")
        message = (f"{claim}; keep fp32 or check the {row.runtime} delegate for {row.dtype} on this device."
                   if row.verdict == CONFIRMED else f"{claim}, but {row.why}: unresolved at this noise level.")
        evidence = {"op": row.op, "runtime": row.runtime, "speedup_median": row.speedup,
                    "speedup_min": row.speedup_min, "speedup_max": row.speedup_max, "n": int(row.n),
                    "n_slower": int(row.n_slower), "z_median": row.z, "critical": row.critical,
                    "rounds_agree": bool(row.rounds_agree), "effect_floor": row.effect_floor,
                    "noise_rel": row.noise_rel,
                    "confirm_jobs": list(row.confirm_jobs)[:MAX_CONFIRM_JOBS] if row.verdict == UNRESOLVED else [],
                    "thresholds": {"dtype_slower_min": thresholds.dtype_slower_min, "alpha": thresholds.alpha}}
        out.append(Anomaly(kind="dtype_slower", device=str(row.device), sweep=str(row.sweep), axis="dtype",
                           at=str(row.dtype), magnitude=float(max(slowdown, 0.0)), finding="F5", message=message,
                           evidence_json=evidence_json(evidence), verdict=row.verdict))
    return out


QUANT_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "config_id", "reference_device", "rel_rmse",
                 "nonfinite", "n_values"]


def output_sample(output_json: str | None) -> tuple[np.ndarray | None, int]:
    """The sampled output values and the non-finite count of one ``output_json`` (None if absent)."""
    if not isinstance(output_json, str) or not output_json:
        return None, 0
    digest = json.loads(output_json)
    sample = digest.get("sample")
    if not sample:
        return None, int(digest.get("nonfinite") or 0)
    return np.array([np.nan if v is None else v for v in sample], dtype=float), int(digest.get("nonfinite") or 0)


_SAMPLE_RE = re.compile(r'"sample":\s*\[([^\]]*)\]')
_NONFINITE_RE = re.compile(r'"nonfinite":\s*(\d+)')


#: Bytes of a comma-separated list of plain decimal numbers (no ``NaN``, ``Infinity``, ``null``).
_NUMBER_BYTES = b"0123456789.eE+- \n"


def _parse_numbers(text: str) -> np.ndarray:
    """The comma-separated decimal numbers of ``text`` as float64, correctly rounded.

    Arrow's CSV reader (one number a line, fast_float, several threads) reads them ~5x faster
    than ``np.fromstring``; both round every decimal to its nearest double, so the values are
    the same. Text with anything but plain numbers is left to ``np.fromstring``, whose
    warnings (text it cannot read to its end) are raised as errors for the caller's JSON path.
    """
    data = text.encode("ascii", errors="replace").replace(b",", b"\n")
    if not data.translate(None, _NUMBER_BYTES):
        try:
            table = pa_csv.read_csv(io.BytesIO(data), read_options=pa_csv.ReadOptions(column_names=["v"]),
                                    parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False),
                                    convert_options=pa_csv.ConvertOptions(column_types={"v": pa.float64()}))
            return table.column(0).to_numpy()
        except pa.ArrowInvalid:
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # text numpy cannot read to its end: the JSON path
        return np.fromstring(text, dtype=float, sep=",")


def output_samples(texts: list[str]) -> list[tuple[np.ndarray | None, int]]:
    """:func:`output_sample` of many digests: all-finite samples (the common case) are parsed
    with one regex and one numpy call, ~10x faster than ``json``; the rest go through JSON."""
    found = [_SAMPLE_RE.search(t) if isinstance(t, str) else None for t in texts]
    groups = [m.group(1) if m is not None else None for m in found]
    plain = [g is not None and g.strip() != "" and "null" not in g for g in groups]
    bodies = [g for g, ok in zip(groups, plain, strict=True) if ok and g is not None]
    counts = [b.count(",") + 1 for b in bodies]
    try:
        flat = _parse_numbers(",".join(bodies)) if bodies else np.empty(0)
        if flat.size != sum(counts):
            raise ValueError("sample lists are not plain numbers")
    except (ValueError, DeprecationWarning):
        return [output_sample(t) for t in texts]
    pieces = iter(np.split(flat, np.cumsum(counts)[:-1]) if bodies else [])
    out = []
    for text, ok in zip(texts, plain, strict=True):
        if ok:
            nf = _NONFINITE_RE.search(text)
            out.append((next(pieces), int(nf.group(1)) if nf else 0))
        else:
            out.append(output_sample(text))
    return out


def quant_error_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Output deviation of each non-fp32 row from fp32 of the same ``config_id``: :data:`QUANT_COLUMNS`.

    ``df`` is the full measurement frame (with ``output_json``), not the output of ``timed``.

    The fp32 reference is the same device and runtime when it ran there, else the first fp32
    run of the config on any device (``reference_device`` says which). Samples of different
    lengths (different output sizes) are not compared.
    """
    if df.empty or "output_json" not in df.columns or "config_id" not in df.columns:
        return pd.DataFrame(columns=QUANT_COLUMNS)
    cols = ["device", "sweep", "runtime", "op", "dtype", "config_id", "output_json"]
    # plain object arrays: Arrow-backed string columns are slow to iterate row by row
    outputs = df["output_json"].to_numpy(dtype=object)
    has_output = np.fromiter((isinstance(t, str) and t != "" for t in outputs), dtype=bool, count=len(outputs))
    ran = np.flatnonzero(np.asarray(df["status"].isin(status.TIMED)) & has_output)
    a = {c: (outputs if c == "output_json" else df[c].to_numpy(dtype=object))[ran] for c in cols}
    is_ref = a["dtype"] == REFERENCE_DTYPE
    if not is_ref.any() or is_ref.all():
        return pd.DataFrame(columns=QUANT_COLUMNS)
    same_place: dict[tuple, str] = {}
    any_place: dict[str, tuple[str, str]] = {}
    for i in np.flatnonzero(is_ref):
        dev, cid, text = a["device"][i], a["config_id"][i], a["output_json"][i]
        same_place[(dev, a["runtime"][i], cid)] = text
        if cid not in any_place or dev < any_place[cid][0]:
            any_place[cid] = (dev, text)
    pairs = []
    for i in np.flatnonzero(~is_ref):
        device, runtime, cid = a["device"][i], a["runtime"][i], a["config_id"][i]
        ref_json = same_place.get((device, runtime, cid))
        ref_device = device
        if ref_json is None and cid in any_place:
            ref_device, ref_json = any_place[cid]
        if ref_json is not None:
            pairs.append((i, ref_device, ref_json))
    ref_texts = list(dict.fromkeys(p[2] for p in pairs))
    ref_parsed = dict(zip(ref_texts, output_samples(ref_texts), strict=True))
    var_parsed = output_samples([a["output_json"][i] for i, _, _ in pairs])
    rows, values_list, refs_list = [], [], []
    for (i, ref_device, ref_json), (values, nonfinite) in zip(pairs, var_parsed, strict=True):
        ref_values = ref_parsed[ref_json][0]
        if values is None or ref_values is None or len(values) != len(ref_values):
            continue
        rows.append((a["device"][i], a["sweep"][i], a["runtime"][i], a["op"][i], a["dtype"][i], a["config_id"][i],
                     ref_device, nonfinite, len(values)))
        values_list.append(values)
        refs_list.append(ref_values)
    frame = pd.DataFrame(rows, columns=[c for c in QUANT_COLUMNS if c != "rel_rmse"])
    frame["rel_rmse"] = _relative_rmse_rows(values_list, refs_list)
    return frame[QUANT_COLUMNS]


def _relative_rmse_rows(values: list[np.ndarray], refs: list[np.ndarray]) -> np.ndarray:
    """Relative RMSE of many (values, reference) pairs, vectorised per sample length.

    ``sqrt(mean((v - r)^2)) / sqrt(mean(r^2))`` over positions finite in both; NaN if none;
    when the reference is all zeros the denominator is 1 (an absolute RMSE).
    """
    out = np.full(len(values), np.nan)
    by_len: dict[int, list[int]] = {}
    for i, v in enumerate(values):
        by_len.setdefault(len(v), []).append(i)
    for idx in by_len.values():
        v, r = np.stack([values[i] for i in idx]), np.stack([refs[i] for i in idx])
        ok = np.isfinite(v) & np.isfinite(r)
        count = ok.sum(axis=1)
        diff = np.where(ok, v - r, 0.0)
        ref = np.where(ok, r, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            num = np.sqrt((diff**2).sum(axis=1) / count)
            den = np.sqrt((ref**2).sum(axis=1) / count)
            out[idx] = np.where(count == 0, np.nan, np.where(den > 0, num / den, num))
    return out


def find_quant_errors(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Anomaly]:
    """F6 anomalies: outputs of a lower precision deviating from fp32 beyond tolerance.

    Model: relative RMSE of the sampled outputs (see :func:`_relative_rmse_rows`). One anomaly per
    (device, sweep, runtime, op, dtype) whose median relative RMSE exceeds
    ``quant_rel_rmse[dtype]`` (fp16 1 %, int8 10 %), or where any output has non-finite values
    that fp32 had not. Magnitude is the median relative RMSE (1.0 for non-finite outputs).
    """
    frame = quant_error_frame(df)
    out: list[Anomaly] = []
    if frame.empty:
        return out
    keys = ["device", "sweep", "runtime", "op", "dtype"]
    for (device, sweep, runtime, op, dtype), g in frame.groupby(keys, sort=True, dropna=False):
        limit = thresholds.quant_rel_rmse.get(dtype)
        med = float(g["rel_rmse"].median())
        n_nonfinite = int((g["nonfinite"] > 0).sum())
        if n_nonfinite == 0 and (limit is None or not np.isfinite(med) or med <= limit):
            continue
        if n_nonfinite:
            magnitude = 1.0
            message = (f"On {device}, {op} in {dtype} produced non-finite outputs in {n_nonfinite} of {len(g)} "
                       f"configurations (fp32 did not); check overflow in the {dtype} path before deploying it.")
        else:
            magnitude = med
            message = (f"On {device}, {op} outputs in {dtype} deviate from fp32 by {pct(med)} relative RMSE "
                       f"(median of {len(g)} configurations; tolerance {pct(limit or 0.0)}); validate accuracy before "
                       f"deploying {dtype} on this device.")
        evidence = {"op": op, "runtime": runtime, "rel_rmse_median": med, "rel_rmse_max": float(g["rel_rmse"].max()),
                    "n": int(len(g)), "n_nonfinite": n_nonfinite,
                    "reference_devices": sorted(set(g["reference_device"].astype(str))),
                    "thresholds": {"quant_rel_rmse": limit}}
        out.append(Anomaly(kind="quant_error", device=str(device), sweep=str(sweep), axis="dtype", at=str(dtype),
                           magnitude=min(magnitude, 10.0), finding="F6", message=message,
                           evidence_json=evidence_json(evidence)))
    return out
