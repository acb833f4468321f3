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

from suite.analysis.pairs import compare_pairs, point_noise_of, run_floors, summarize_pairs
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import PLACE_COLUMNS, is_bool_column, param_columns, pct, timed
from suite.analysis.steps import MAX_CONFIRM_JOBS
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED

#: Reference activation per op; ops not listed compare with ``none`` (conv alone).
ACTIVATION_REFERENCE: dict[str, str] = {"activation": "relu"}

#: The op every other op or block is compared with.
REFERENCE_OP = "conv2d"

OVERHEAD_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "kind", "axis", "level", "reference",
                    "latency_ms", "reference_ms", "overhead", "cost_ratio", "sd", "z", "critical", "critical_unresolved",
                    "noise_rel", "rounds_agree", "significant", "config", "job_ids"]

#: Per pair before the comparison: identity, latencies and what the uncertainty model needs.
_PAIR_COLUMNS = ["device", "sweep", "runtime", "op", "dtype", "kind", "axis", "level", "reference", "latency_ms",
                 "reference_ms", "cost_ratio", "config", "job_ids", "_sigma", "_ref_sigma", "_rounds", "_ref_rounds"]

#: Columns of a timed frame the pairings read, besides the place and parameter columns.
_READ_COLUMNS = ("median_ms", "_sigma", "flops", "macs", "_rounds", "_job_ids", "params_json")


def _bool_columns(data: pd.DataFrame) -> list[str]:
    return [c for c in param_columns(data) if is_bool_column(data[c]) and data[c].nunique() > 1]


def _against_reference(data: pd.DataFrame, axis: str, ref_of: pd.Series, kind: str) -> pd.DataFrame:
    """Pair each row of ``data`` with the row of its group whose ``axis`` equals ``ref_of``."""
    sub = data[data[axis].notna()].copy()
    if sub.empty:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    keys = [c for c in PLACE_COLUMNS if c in sub.columns] + [c for c in param_columns(sub) if c != axis]
    sub["_g"] = sub.groupby(keys, dropna=False, sort=False).ngroup()
    sub["_ref_level"] = ref_of.loc[sub.index]
    is_ref = sub[axis].astype(str) == sub["_ref_level"].astype(str)
    ref = (sub[is_ref].groupby("_g").agg(reference_ms=("median_ms", "first"), _ref_sigma=("_sigma", "first"),
                                         _ref_cost=("flops", "first"), _ref_rounds=("_rounds", "first"),
                                         _ref_jobs=("_job_ids", "first")))
    pairs = sub[~is_ref].join(ref, on="_g", how="inner")
    if pairs.empty:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    config = pairs["params_json"] if "params_json" in pairs.columns else pd.Series("", index=pairs.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        cost_ratio = pd.to_numeric(pairs["flops"], errors="coerce").to_numpy(float) / pairs["_ref_cost"].to_numpy(float)
    return pd.DataFrame({
        "device": pairs["device"], "sweep": pairs["sweep"], "runtime": pairs["runtime"], "op": pairs["op"],
        "dtype": pairs["dtype"], "kind": kind, "axis": axis, "level": pairs[axis].astype(str),
        "reference": pairs["_ref_level"].astype(str), "latency_ms": pairs["median_ms"].to_numpy(float),
        "reference_ms": pairs["reference_ms"].to_numpy(float), "cost_ratio": cost_ratio, "config": config,
        "job_ids": [tuple(a) + tuple(b) for a, b in zip(pairs["_job_ids"], pairs["_ref_jobs"], strict=True)],
        "_sigma": pairs["_sigma"].to_numpy(float), "_ref_sigma": pairs["_ref_sigma"].to_numpy(float),
        "_rounds": list(pairs["_rounds"]), "_ref_rounds": list(pairs["_ref_rounds"]),
    })


def _against_reference_op(data: pd.DataFrame, reference_op: str) -> pd.DataFrame:
    """Pair rows of every other op with ``reference_op`` rows sharing their parameter values.

    The reference is scaled by the MAC ratio: ``reference_ms = ref_lat * macs / ref_macs``.
    """
    ref_rows = data[data["op"] == reference_op]
    # the reference is the plain op: no fused activation, no switch turned on
    if "activation" in ref_rows.columns:
        ref_rows = ref_rows[ref_rows["activation"].isna() | (ref_rows["activation"] == "none")]
    for col in _bool_columns(data):
        ref_rows = ref_rows[ref_rows[col].isna() | (ref_rows[col] == False)]  # noqa: E712 - object column
    frames = []
    if ref_rows.empty:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    ref_params = {c for c in param_columns(data) if ref_rows[c].notna().any()}
    for op, rows in data[(data["op"] != reference_op) & (data["op"] != "activation")].groupby("op"):
        shared = sorted(c for c in param_columns(data) if c in ref_params and rows[c].notna().all())
        if not shared:
            continue
        keys = ["device", "runtime", "dtype", *shared]
        ref = (ref_rows.dropna(subset=shared).groupby(keys, dropna=False)
               .agg(_ref_ms=("median_ms", "first"), _ref_sigma=("_sigma", "first"), _ref_macs=("macs", "first"),
                    _ref_rounds=("_rounds", "first"), _ref_jobs=("_job_ids", "first")).reset_index())
        pairs = rows.merge(ref, on=keys, how="inner")
        pairs = pairs[(pd.to_numeric(pairs["macs"], errors="coerce") > 0) & (pairs["_ref_macs"] > 0)]
        if pairs.empty:
            continue
        mac_ratio = pairs["macs"].to_numpy(float) / pairs["_ref_macs"].to_numpy(float)
        frames.append(pd.DataFrame({
            "device": pairs["device"], "sweep": pairs["sweep"], "runtime": pairs["runtime"], "op": op,
            "dtype": pairs["dtype"], "kind": "op", "axis": "op", "level": op, "reference": reference_op,
            "latency_ms": pairs["median_ms"].to_numpy(float),
            "reference_ms": pairs["_ref_ms"].to_numpy(float) * mac_ratio, "cost_ratio": mac_ratio,
            "config": pairs.get("params_json", ""),
            "job_ids": [tuple(a) + tuple(b) for a, b in zip(pairs["_job_ids"], pairs["_ref_jobs"], strict=True)],
            "_sigma": pairs["_sigma"].to_numpy(float), "_ref_sigma": pairs["_ref_sigma"].to_numpy(float),
            "_rounds": list(pairs["_rounds"]),
            "_ref_rounds": [np.asarray(r, float) * k for r, k in zip(pairs["_ref_rounds"], mac_ratio, strict=True)],
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_PAIR_COLUMNS)


def overhead_frame(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   reference_op: str = REFERENCE_OP, point_noise: dict[str, float] | None = None) -> pd.DataFrame:
    """Every variant-vs-reference pair: :data:`OVERHEAD_COLUMNS`.

    ``overhead`` is the relative latency added (0.6 = +60 %); for ``kind == "op"`` it is the
    latency beyond what the MAC ratio predicts. ``cost_ratio`` is FLOPs (activation, switch)
    or MACs (op) of the variant over the reference. ``z`` and ``rounds_agree`` come from
    :func:`suite.analysis.pairs.compare_pairs` (the two headlines' between-round noise plus
    twice the device's point-to-point scatter; every round showing at least half the
    threshold); ``significant`` means ``z`` clears the one-sided t quantile at family-wise
    ``alpha`` over the device's variants and ``|overhead| >= overhead_significant`` (10 %).
    """
    full = timed(df, thresholds)
    if full.empty:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    # the pairings filter and copy rows many times: of the columns only those they read
    kept = {*PLACE_COLUMNS, *param_columns(full), *_READ_COLUMNS}
    data = full[[c for c in full.columns if c in kept]]
    frames = []
    if "activation" in data.columns:
        op_codes, ops = pd.factorize(data["op"])  # the reference of each op once, not of each row
        refs = np.array([ACTIVATION_REFERENCE.get(op, "none") for op in ops] + ["none"], dtype=object)  # [-1]: no op
        ref_of = pd.Series(refs[op_codes], index=data.index)
        frames.append(_against_reference(data, "activation", ref_of, "activation"))
    for col in _bool_columns(data):
        frames.append(_against_reference(data, col, pd.Series("False", index=data.index), "switch"))
    frames.append(_against_reference_op(data, reference_op))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=OVERHEAD_COLUMNS)
    pairs = pd.concat(frames, ignore_index=True)
    if point_noise is None:
        point_noise = point_noise_of(full, thresholds)
    groups = ["device", "sweep", "runtime", "op", "dtype", "kind", "axis", "level"]
    return compare_pairs(pairs, thresholds.overhead_significant, thresholds, point_noise, groups)[OVERHEAD_COLUMNS]


def overhead_summary(frame: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                     floors: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per (device, sweep, runtime, op, dtype, kind, axis, level, reference): median
    overhead, its range, cost ratio, the count of configurations and of significant ones, and
    the ``verdict`` of :func:`suite.analysis.pairs.group_verdict` (``confirmed``,
    ``unresolved`` or ``""`` for negligible)."""
    keys = ["device", "sweep", "runtime", "op", "dtype", "kind", "axis", "level", "reference"]
    return summarize_pairs(frame, keys, "overhead", thresholds.overhead_significant, thresholds, floors)


def find_overheads(df: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   reference_op: str = REFERENCE_OP, point_noise: dict[str, float] | None = None) -> list[Anomaly]:
    """F2 (activation) and F3 (switch, op) anomalies: significant added latency.

    One anomaly per variant and place whose group verdict (see
    :func:`suite.analysis.pairs.group_verdict`) is ``confirmed`` (the median overhead over its
    configurations is at least ``max(overhead_significant, noise floor)``, at least half of them
    are significant, and a single configuration's rounds agree) or ``unresolved``.
    Magnitude is the median overhead.
    """
    out = []
    data = timed(df, thresholds)
    summary = overhead_summary(overhead_frame(data, thresholds, reference_op, point_noise), thresholds,
                               run_floors(data))
    for row in summary.itertuples(index=False):
        if not row.verdict:
            continue
        n_note = f"median of {row.n} configurations" if row.n > 1 else "one configuration"
        if row.kind == "activation":
            finding = "F2"
            extra = (f"; its FLOPs add {pct(row.cost_ratio - 1)}" if np.isfinite(row.cost_ratio) else "")
            claim = f"On {row.device}, {row.level} after {row.op} ({row.dtype}) adds {pct(row.overhead)} latency " \
                    f"vs {row.reference} ({n_note}{extra})"
            advice = "prefer a cheaper activation on this device"
        elif row.kind == "switch":
            finding = "F3"
            claim = f"On {row.device}, {row.op} ({row.dtype}) with {row.axis}=True costs {pct(row.overhead)} more " \
                    f"than without ({n_note}, FLOPs x{row.cost_ratio:.2f})"
            advice = f"weigh {row.axis} against its accuracy gain"
        else:
            finding = "F3"
            claim = f"On {row.device}, {row.op} ({row.dtype}) takes {pct(row.overhead)} more time than a " \
                    f"{row.reference} with the same parameters scaled by MACs ({row.cost_ratio:.2g}x the MACs; {n_note})"
            advice = "its MACs understate its latency on this device"
        message = f"{claim}; {advice}." if row.verdict == CONFIRMED else f"{claim}, but {row.why}: unresolved " \
                                                                          f"at this noise level."
        evidence = {"op": row.op, "dtype": row.dtype, "runtime": row.runtime, "kind": row.kind,
                    "reference": row.reference, "overhead_median": row.overhead, "overhead_min": row.overhead_min,
                    "overhead_max": row.overhead_max, "cost_ratio": row.cost_ratio, "n": int(row.n),
                    "n_significant": int(row.n_significant), "z_median": row.z, "critical": row.critical,
                    "rounds_agree": bool(row.rounds_agree), "effect_floor": row.effect_floor,
                    "noise_rel": row.noise_rel,
                    "confirm_jobs": list(row.confirm_jobs)[:MAX_CONFIRM_JOBS] if row.verdict == UNRESOLVED else [],
                    "thresholds": {"overhead_significant": thresholds.overhead_significant,
                                   "alpha": thresholds.alpha}}
        out.append(Anomaly(kind=f"{row.kind}_overhead", device=str(row.device), sweep=str(row.sweep), axis=row.axis,
                           at=str(row.level), magnitude=float(max(row.overhead, 0.0)), finding=finding,
                           message=message, evidence_json=evidence_json(evidence), verdict=row.verdict))
    return out
