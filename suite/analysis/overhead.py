"""Activation and operator/block overhead (findings F2 and F3).

Three comparisons, each "this variant vs its reference, everything else equal":

* **activation** (F2): a conv-like op with ``activation=X`` vs the same op with ``none``
  (the standalone ``activation`` op is compared with ``relu``, since ``none`` is identity);
* **switch** (F3): a boolean parameter on (``se=True``, ``residual=True``) vs off;
* **op** (F3): an op or block vs a reference op (``conv2d``) with the same shared parameters
  (``cin``, ``cout``, ``kernel``, ``resolution``…), scaled by their MAC ratio so a block is
  only blamed for latency beyond what its extra MACs predict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import (
    PLACE_COLUMNS,
    is_bool_column,
    param_columns,
    pct,
    significantly_greater,
    timed,
)
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds

#: Reference activation per op; ops not listed compare with ``none`` (conv alone).
ACTIVATION_REFERENCE: dict[str, str] = {"activation": "relu"}

#: The op every other op or block is compared with.
REFERENCE_OP = "conv2d"

OVERHEAD_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "kind", "axis", "level", "reference",
                    "latency_ms", "reference_ms", "overhead", "cost_ratio", "significant", "config"]


def _bool_columns(data: pd.DataFrame) -> list[str]:
    return [c for c in param_columns(data) if is_bool_column(data[c]) and data[c].nunique() > 1]


def _against_reference(data: pd.DataFrame, axis: str, ref_of: pd.Series, kind: str,
                       thresholds: Thresholds) -> pd.DataFrame:
    """Pair each row of ``data`` with the row of its group whose ``axis`` equals ``ref_of``."""
    sub = data[data[axis].notna()].copy()
    if sub.empty:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    keys = [c for c in PLACE_COLUMNS if c in sub.columns] + [c for c in param_columns(sub) if c != axis]
    sub["_g"] = sub.groupby(keys, dropna=False, sort=False).ngroup()
    sub["_ref_level"] = ref_of.loc[sub.index]
    is_ref = sub[axis].astype(str) == sub["_ref_level"].astype(str)
    ref = (sub[is_ref].groupby("_g").agg(reference_ms=("median_ms", "median"), _ref_half=("_half_ms", "max"),
                                         _ref_cost=("flops", "median")))
    pairs = sub[~is_ref].join(ref, on="_g", how="inner")
    if pairs.empty:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    lat, h = pairs["median_ms"].to_numpy(float), pairs["_half_ms"].to_numpy(float)
    rlat, rh = pairs["reference_ms"].to_numpy(float), pairs["_ref_half"].to_numpy(float)
    overhead = lat / rlat - 1.0
    beyond = significantly_greater(lat, h, rlat, rh) | significantly_greater(rlat, rh, lat, h)
    config = pairs["params_json"] if "params_json" in pairs.columns else pd.Series("", index=pairs.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost_ratio = pd.to_numeric(pairs["flops"], errors="coerce").to_numpy(float) / pairs["_ref_cost"].to_numpy(float)
    return pd.DataFrame({
        "device": pairs["device"], "sweep": pairs["sweep"], "runtime": pairs["runtime"], "op": pairs["op"],
        "dtype": pairs["dtype"], "kind": kind, "axis": axis, "level": pairs[axis].astype(str),
        "reference": pairs["_ref_level"].astype(str), "latency_ms": lat, "reference_ms": rlat,
        "overhead": overhead, "cost_ratio": cost_ratio,
        "significant": beyond & (np.abs(overhead) >= thresholds.overhead_significant), "config": config,
    })[OVERHEAD_COLUMNS]


def _against_reference_op(data: pd.DataFrame, reference_op: str, thresholds: Thresholds) -> pd.DataFrame:
    """Pair rows of every other op with ``reference_op`` rows sharing their parameter values.

    The overhead is latency beyond the MAC-scaled reference: ``lat / (ref_lat * macs / ref_macs) - 1``.
    """
    ref_rows = data[data["op"] == reference_op]
    # the reference is the plain op: no fused activation, no switch turned on
    if "activation" in ref_rows.columns:
        ref_rows = ref_rows[ref_rows["activation"].isna() | (ref_rows["activation"] == "none")]
    for col in _bool_columns(data):
        ref_rows = ref_rows[ref_rows[col].isna() | (ref_rows[col] == False)]  # noqa: E712 - object column
    frames = []
    if ref_rows.empty:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    ref_params = {c for c in param_columns(data) if ref_rows[c].notna().any()}
    for op, rows in data[(data["op"] != reference_op) & (data["op"] != "activation")].groupby("op"):
        shared = sorted(c for c in param_columns(data) if c in ref_params and rows[c].notna().all())
        if not shared:
            continue
        keys = ["device", "runtime", "dtype", *shared]
        ref = (ref_rows.dropna(subset=shared).groupby(keys, dropna=False)
               .agg(reference_ms=("median_ms", "median"), _ref_half=("_half_ms", "max"),
                    _ref_macs=("macs", "median"), _n_ref=("median_ms", "size")).reset_index())
        pairs = rows.merge(ref, on=keys, how="inner")
        pairs = pairs[(pd.to_numeric(pairs["macs"], errors="coerce") > 0) & (pairs["_ref_macs"] > 0)]
        if pairs.empty:
            continue
        mac_ratio = pairs["macs"].to_numpy(float) / pairs["_ref_macs"].to_numpy(float)
        lat, h = pairs["median_ms"].to_numpy(float), pairs["_half_ms"].to_numpy(float)
        scaled, scaled_h = pairs["reference_ms"].to_numpy(float) * mac_ratio, pairs["_ref_half"].to_numpy(float) * mac_ratio
        overhead = lat / scaled - 1.0
        beyond = significantly_greater(lat, h, scaled, scaled_h) | significantly_greater(scaled, scaled_h, lat, h)
        frames.append(pd.DataFrame({
            "device": pairs["device"], "sweep": pairs["sweep"], "runtime": pairs["runtime"], "op": op,
            "dtype": pairs["dtype"], "kind": "op", "axis": "op", "level": op, "reference": reference_op,
            "latency_ms": lat, "reference_ms": pairs["reference_ms"].to_numpy(float), "overhead": overhead,
            "cost_ratio": mac_ratio,
            "significant": beyond & (np.abs(overhead) >= thresholds.overhead_significant),
            "config": pairs.get("params_json", ""),
        })[OVERHEAD_COLUMNS])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OVERHEAD_COLUMNS)


def overhead_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   reference_op: str = REFERENCE_OP) -> pd.DataFrame:
    """Every variant-vs-reference pair: :data:`OVERHEAD_COLUMNS`.

    ``overhead`` is the relative latency added (0.6 = +60 %); for ``kind == "op"`` it is the
    latency beyond what the MAC ratio predicts. ``cost_ratio`` is FLOPs (activation, switch)
    or MACs (op) of the variant over the reference. ``significant`` means beyond both CIs and
    ``|overhead| >= overhead_significant`` (10 %); anything else is "negligible".
    """
    data = timed(df)
    if data.empty:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    frames = []
    if "activation" in data.columns:
        ref_of = data["op"].map(lambda op: ACTIVATION_REFERENCE.get(op, "none"))
        frames.append(_against_reference(data, "activation", ref_of, "activation", thresholds))
    for col in _bool_columns(data):
        frames.append(_against_reference(data, col, pd.Series("False", index=data.index), "switch", thresholds))
    frames.append(_against_reference_op(data, reference_op, thresholds))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OVERHEAD_COLUMNS)


def overhead_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Median overhead per (device, sweep, runtime, op, dtype, kind, axis, level, reference),
    with the count of configurations and of significant ones."""
    keys = ["device", "sweep", "runtime", "op", "dtype", "kind", "axis", "level", "reference"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "overhead", "overhead_min", "overhead_max", "cost_ratio", "n",
                                     "n_significant"])
    f = frame.assign(significant=frame["significant"].astype(bool))
    return (f.groupby(keys, dropna=False, sort=True)
            .agg(overhead=("overhead", "median"), overhead_min=("overhead", "min"), overhead_max=("overhead", "max"),
                 cost_ratio=("cost_ratio", "median"), n=("overhead", "size"), n_significant=("significant", "sum"))
            .reset_index())


def find_overheads(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   reference_op: str = REFERENCE_OP) -> list[Anomaly]:
    """F2 (activation) and F3 (switch, op) anomalies: significant added latency.

    One anomaly per variant and place when the median overhead over its configurations is at
    least ``overhead_significant`` (10 %) and at least half of them are significant (beyond
    both CIs). Magnitude is the median overhead.
    """
    out = []
    summary = overhead_summary(overhead_frame(df, thresholds, reference_op))
    for row in summary.itertuples(index=False):
        if row.overhead < thresholds.overhead_significant or row.n_significant * 2 < row.n:
            continue
        n_note = f"median of {row.n} configurations" if row.n > 1 else "one configuration"
        if row.kind == "activation":
            finding = "F2"
            extra = (f"; its FLOPs add {pct(row.cost_ratio - 1)}" if np.isfinite(row.cost_ratio) else "")
            message = (f"On {row.device}, {row.level} after {row.op} ({row.dtype}) adds {pct(row.overhead)} latency "
                       f"vs {row.reference} ({n_note}{extra}); prefer a cheaper activation on this device.")
        elif row.kind == "switch":
            finding = "F3"
            message = (f"On {row.device}, {row.op} ({row.dtype}) with {row.axis}=True costs {pct(row.overhead)} more "
                       f"than without ({n_note}, FLOPs x{row.cost_ratio:.2f}); weigh {row.axis} against its accuracy gain.")
        else:
            finding = "F3"
            message = (f"On {row.device}, {row.op} ({row.dtype}) takes {pct(row.overhead)} more time than a {row.reference} "
                       f"with the same parameters scaled by MACs ({row.cost_ratio:.2g}x the MACs; {n_note}): "
                       f"its MACs understate its latency on this device.")
        evidence = {"op": row.op, "dtype": row.dtype, "runtime": row.runtime, "kind": row.kind,
                    "reference": row.reference, "overhead_median": row.overhead, "overhead_min": row.overhead_min,
                    "overhead_max": row.overhead_max, "cost_ratio": row.cost_ratio, "n": int(row.n),
                    "n_significant": int(row.n_significant),
                    "thresholds": {"overhead_significant": thresholds.overhead_significant}}
        out.append(Anomaly(kind=f"{row.kind}_overhead", device=str(row.device), sweep=str(row.sweep), axis=row.axis,
                           at=str(row.level), magnitude=float(row.overhead), finding=finding, message=message,
                           evidence_json=evidence_json(evidence)))
    return out
