"""Lower precision: speed (finding F5) and output deviation (finding F6) vs fp32.

Variants of one configuration share a ``config_id`` (same op, parameters, weights and
inputs); each non-fp32 row is paired with the fp32 row of the same config on the same
device and runtime.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


def _read_lines(data: pa.Buffer | bytes) -> np.ndarray:
    """Numbers one a line as float64 by Arrow's CSV reader (raises ``pa.ArrowInvalid`` on others).

    Arrow parses decimals with fast_float, which rounds each to its nearest double as Python's
    ``float`` does (tested bit for bit), and reads them ~5x faster than ``np.fromstring``.
    """
    table = pa_csv.read_csv(pa.BufferReader(data), read_options=pa_csv.ReadOptions(column_names=["v"]),
                            parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False),
                            convert_options=pa_csv.ConvertOptions(column_types={"v": pa.float64()}))
    return table.column(0).to_numpy()


@dataclass(frozen=True)
class Samples:
    """The sampled outputs of many digests, flat: row ``i``'s values are
    ``flat[start[i]:start[i] + length[i]]``; ``length[i] == -1`` where :func:`output_sample`
    gives None (no digest, no sample or an empty one); ``nonfinite[i]`` its non-finite count."""

    flat: np.ndarray
    start: np.ndarray
    length: np.ndarray
    nonfinite: np.ndarray

    def row(self, i: int) -> tuple[np.ndarray | None, int]:
        """Row ``i`` as :func:`output_sample` gives it."""
        n = int(self.length[i])
        return (None if n < 0 else self.flat[self.start[i]:self.start[i] + n]), int(self.nonfinite[i])


#: How the results store writes a digest (``json.dumps``): the sample list is the last key.
_SAMPLE_KEY, _NONFINITE_KEY = '"sample": [', '"nonfinite": '
#: Digests read per Arrow CSV read (bounds the copies: ~1.3 kB a digest).
_CHUNK_ROWS = 8192
#: Bytes that are digits, and bytes that may open a number.
_DIGIT, _NUMBER_START = np.zeros(256, dtype=bool), np.zeros(256, dtype=bool)
_DIGIT[np.frombuffer(b"0123456789", dtype=np.uint8)] = True
_NUMBER_START[np.frombuffer(b"0123456789+-.", dtype=np.uint8)] = True
def _read_chunk(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of the sample lists at ``data[starts[k]:ends[k]]`` (each followed by its ``]``
    at ``ends[k]``), flat, and how many each list has (one more than its commas).

    The lists (with their ``]``) are copied end to end, commas and each list's ``]`` become line
    ends, and Arrow's CSV reader reads one number a line. Raises ``ValueError`` when the count
    read is not the count the commas give, ``pa.ArrowInvalid`` on anything not a number (a
    ``]`` inside a list included).
    """
    view = memoryview(data)
    text = np.frombuffer(bytearray(b"".join([view[a:b] for a, b in zip(starts.tolist(), (ends + 1).tolist(),
                                                                        strict=True)])), dtype=np.uint8)
    lengths = ends + 1 - starts
    first = np.cumsum(lengths) - lengths
    commas = np.flatnonzero(text == ord(","))
    counts = np.diff(np.searchsorted(commas, np.r_[first, len(text)])) + 1
    text[commas] = ord("\n")
    text[first + lengths - 1] = ord("\n")  # each list's closing bracket
    flat = _read_lines(pa.py_buffer(text))
    if flat.size != counts.sum():
        raise ValueError("sample lists are not plain numbers")
    return flat, counts


def digest_samples(texts: pa.Array | pa.ChunkedArray) -> Samples:
    """:func:`output_sample` of many digests (Arrow strings), without a Python string per row.

    A digest as the store writes it (``"sample": [`` ... ``]}`` at its end, numbers only) is read
    straight from the Arrow buffer, :data:`_CHUNK_ROWS` at a time (:func:`_read_chunk`), ~10x
    faster than ``json``; every other digest, and every digest of a chunk that does not read
    cleanly, goes through :func:`output_sample`.
    """
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    parts = [_digest_array(c if c.type == pa.large_string() else c.cast(pa.large_string())) for c in chunks]
    if len(parts) == 1:
        return parts[0]
    shift = np.cumsum([0] + [p.flat.size for p in parts[:-1]])
    return Samples(np.concatenate([p.flat for p in parts]),
                   np.concatenate([p.start + s for p, s in zip(parts, shift, strict=True)]),
                   np.concatenate([p.length for p in parts]), np.concatenate([p.nonfinite for p in parts]))


def _digest_array(texts: pa.Array) -> Samples:
    """:func:`digest_samples` of one large_string array."""
    n = len(texts)
    if n == 0:
        return Samples(np.empty(0), *(np.empty(0, dtype=np.int64) for _ in range(3)))
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[texts.offset:texts.offset + n + 1]
    data = np.frombuffer(texts.buffers()[2], dtype=np.uint8) if texts.buffers()[2] else np.zeros(1, np.uint8)
    at_sample = np.asarray(pc.find_substring(texts, _SAMPLE_KEY).fill_null(-1), dtype=np.int64)
    at_nonfinite = np.asarray(pc.find_substring(texts, _NONFINITE_KEY).fill_null(-1), dtype=np.int64)
    begin = np.minimum(offsets[:-1] + at_sample + len(_SAMPLE_KEY), len(data) - 1)
    close = np.maximum(offsets[1:] - 2, 0)
    fast = ((at_sample >= 0) & (close > begin) & (data[close] == ord("]")) & (data[close + 1] == ord("}"))
            & _NUMBER_START[data[begin]])
    digit = np.minimum(offsets[:-1] + at_nonfinite + len(_NONFINITE_KEY), len(data) - 2)
    no_nonfinite = (at_nonfinite >= 0) & (data[digit] == ord("0")) & ~_DIGIT[data[digit + 1]]
    length = np.full(n, -1, dtype=np.int64)
    start = np.zeros(n, dtype=np.int64)
    nonfinite = np.zeros(n, dtype=np.int64)
    parts, size = [], 0
    for lo in range(0, n, _CHUNK_ROWS):
        rows = lo + np.flatnonzero(fast[lo:lo + _CHUNK_ROWS])
        if not rows.size:
            continue
        base, top = offsets[lo], offsets[min(n, lo + _CHUNK_ROWS)]
        try:
            flat, counts = _read_chunk(data[base:top], begin[rows] - base, close[rows] - base)
        except (ValueError, pa.ArrowInvalid):
            fast[rows] = False
            continue
        start[rows], length[rows] = size + np.cumsum(counts) - counts, counts
        parts.append(flat)
        size += flat.size
    odd_count = np.flatnonzero(fast & ~no_nonfinite)
    for i, text in zip(odd_count, texts.take(pa.array(odd_count, type=pa.int64())).to_pylist(), strict=True):
        found = _NONFINITE_RE.search(text)
        nonfinite[i] = int(found.group(1)) if found else 0
    has_text = np.asarray(pc.greater(pc.binary_length(texts), 0).fill_null(False), dtype=bool)
    slow = np.flatnonzero(has_text & ~fast)
    for i, text in zip(slow, texts.take(pa.array(slow, type=pa.int64())).to_pylist(), strict=True):
        values, nonfinite[i] = output_sample(text)
        if values is not None:
            start[i], length[i] = size, values.size
            parts.append(values)
            size += values.size
    return Samples(np.concatenate(parts) if parts else np.empty(0), start, length, nonfinite)


def output_samples(texts: list[str | None]) -> list[tuple[np.ndarray | None, int]]:
    """:func:`output_sample` of each of ``texts`` (see :func:`digest_samples`)."""
    samples = digest_samples(_python_texts(texts))
    return [samples.row(i) for i in range(len(texts))]


def _python_texts(texts) -> pa.Array:
    """Python objects as Arrow strings, anything but a string as null."""
    return pa.array([t if isinstance(t, str) else None for t in texts], type=pa.large_string())


def _texts_of(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A string column as Arrow without copying where it is Arrow-backed already."""
    return _python_texts(column) if column.dtype == object else pa.array(column)


def quant_error_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Output deviation of each non-fp32 row from fp32 of the same ``config_id``: :data:`QUANT_COLUMNS`.

    ``df`` is the full measurement frame (with ``output_json``), not the output of ``timed``.

    The fp32 reference is the same device and runtime when it ran there (the last such row),
    else the first fp32 run of the config on the alphabetically first device
    (``reference_device`` says which). Samples of different lengths (different output sizes)
    are not compared.
    """
    if df.empty or "output_json" not in df.columns or "config_id" not in df.columns:
        return pd.DataFrame(columns=QUANT_COLUMNS)
    texts = _texts_of(df["output_json"])
    has_output = np.asarray(pc.greater(pc.binary_length(texts), 0).fill_null(False), dtype=bool)
    ran = np.flatnonzero(np.asarray(df["status"].isin(status.TIMED)) & has_output)
    keys = pd.DataFrame({c: df[c].to_numpy(dtype=object)[ran] for c in ("device", "runtime", "config_id")})
    keys["row"] = np.arange(len(ran))
    is_ref = df["dtype"].to_numpy(dtype=object)[ran] == REFERENCE_DTYPE
    if not is_ref.any() or is_ref.all():
        return pd.DataFrame(columns=QUANT_COLUMNS)
    refs, variants = keys[is_ref], keys[~is_ref]
    same = refs.drop_duplicates(["device", "runtime", "config_id"], keep="last")
    paired = variants.merge(same, on=["device", "runtime", "config_id"], how="left", suffixes=("", "_ref"))
    first = (refs.sort_values(["config_id", "device"], kind="stable").drop_duplicates("config_id", keep="first")
             .set_index("config_id"))
    elsewhere = paired["row_ref"].isna()
    paired["reference_device"] = paired["device"].where(~elsewhere, paired["config_id"].map(first["device"]))
    paired["row_ref"] = paired["row_ref"].where(~elsewhere, paired["config_id"].map(first["row"]))
    paired = paired[paired["row_ref"].notna()]
    var_rows, ref_rows = paired["row"].to_numpy(dtype=np.int64), paired["row_ref"].to_numpy(dtype=np.int64)
    samples = digest_samples(texts)
    v, r = ran[var_rows], ran[ref_rows]
    keep = (samples.length[v] >= 0) & (samples.length[v] == samples.length[r])
    picked = v[keep]
    frame = pd.DataFrame({c: df[c].to_numpy(dtype=object)[picked] for c in ("device", "sweep", "runtime", "op",
                                                                            "dtype", "config_id")})
    frame["reference_device"] = paired["reference_device"].to_numpy(dtype=object)[keep]
    frame["nonfinite"] = samples.nonfinite[picked]
    frame["n_values"] = samples.length[picked]
    frame["rel_rmse"] = _relative_rmse_rows(samples, picked, r[keep])
    return frame[QUANT_COLUMNS]


#: Pairs whose relative RMSE is taken as one matrix (rows of up to 64 sampled values).
_RMSE_ROWS = 8192


def _relative_rmse_rows(samples: Samples, values: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Relative RMSE of many (values, reference) row pairs of ``samples``, vectorised per length.

    ``sqrt(mean((v - r)^2)) / sqrt(mean(r^2))`` over positions finite in both; NaN if none;
    when the reference is all zeros the denominator is 1 (an absolute RMSE).
    """
    out = np.full(len(values), np.nan)
    lengths = samples.length[values]
    for n in np.unique(lengths):
        every = np.flatnonzero(lengths == n)
        at = np.arange(n)
        for lo in range(0, len(every), _RMSE_ROWS):  # bounded temporaries: ~4 MB each
            _rmse_of(samples, values, refs, every[lo:lo + _RMSE_ROWS], at, out)
    return out


def _rmse_of(samples: Samples, values: np.ndarray, refs: np.ndarray, idx: np.ndarray, at: np.ndarray,
             out: np.ndarray) -> None:
    """:func:`_relative_rmse_rows` of the pairs ``idx`` (all of length ``len(at)``) into ``out``."""
    v = samples.flat[samples.start[values[idx]][:, None] + at]
    r = samples.flat[samples.start[refs[idx]][:, None] + at]
    ok = np.isfinite(v) & np.isfinite(r)
    count = ok.sum(axis=1)
    diff = np.where(ok, v - r, 0.0)
    ref = np.where(ok, r, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.sqrt((diff**2).sum(axis=1) / count)
        den = np.sqrt((ref**2).sum(axis=1) / count)
        out[idx] = np.where(count == 0, np.nan, np.where(den > 0, num / den, num))


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
    groups = frame.assign(_bad=frame["nonfinite"] > 0).groupby(keys, sort=True, dropna=False)
    stats = groups.agg(med=("rel_rmse", "median"), top=("rel_rmse", "max"), n=("rel_rmse", "size"),
                       bad=("_bad", "sum"))
    limits = np.array([thresholds.quant_rel_rmse.get(d, np.nan) for d in stats.index.get_level_values("dtype")],
                      dtype=float)
    with np.errstate(invalid="ignore"):
        flagged = (stats["bad"].to_numpy() > 0) | (stats["med"].to_numpy() > limits)
    if not flagged.any():
        return out
    gid = groups.ngroup().to_numpy()
    ref_devices = frame["reference_device"].astype(str).to_numpy(dtype=object)
    for g in np.flatnonzero(flagged).tolist():
        (device, sweep, runtime, op, dtype), row = stats.index[g], stats.iloc[g]
        limit = thresholds.quant_rel_rmse.get(dtype)
        med, n, n_nonfinite = float(row["med"]), int(row["n"]), int(row["bad"])
        if n_nonfinite:
            magnitude = 1.0
            message = (f"On {device}, {op} in {dtype} produced non-finite outputs in {n_nonfinite} of {n} "
                       f"configurations (fp32 did not); check overflow in the {dtype} path before deploying it.")
        else:
            magnitude = med
            message = (f"On {device}, {op} outputs in {dtype} deviate from fp32 by {pct(med)} relative RMSE "
                       f"(median of {n} configurations; tolerance {pct(limit or 0.0)}); validate accuracy before "
                       f"deploying {dtype} on this device.")
        evidence = {"op": op, "runtime": runtime, "rel_rmse_median": med, "rel_rmse_max": float(row["top"]),
                    "n": n, "n_nonfinite": n_nonfinite,
                    "reference_devices": sorted(set(ref_devices[gid == g])),
                    "thresholds": {"quant_rel_rmse": limit}}
        out.append(Anomaly(kind="quant_error", device=str(device), sweep=str(sweep), axis="dtype", at=str(dtype),
                           magnitude=min(magnitude, 10.0), finding="F6", message=message,
                           evidence_json=evidence_json(evidence)))
    return out
