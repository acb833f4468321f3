"""Support matrix (finding F7): what ran, fell back, was unsupported or failed, per op × dtype × device."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from suite import status
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import param_columns, pct, with_param_columns

#: Statuses counted as "failed" (the point produced no timing for a reason other than support).
FAILED = (status.BUILD_ERROR, status.RUNTIME_ERROR, status.TIMEOUT, status.CRASHED, status.DEVICE_LOST)

SUPPORT_COLUMNS = ["device", "op", "dtype", "n", "ok", "fallback", "unsupported", "failed", "skipped", "verdict",
                   "fallback_ops"]


def _verdict(row: pd.Series) -> str:
    """One word per cell: ran, fell back, unsupported, failed, mixed (n/a when nothing was tried)."""
    tried = row["n"] - row["skipped"]
    if tried <= 0:
        return "n/a"
    for name, col in (("ran", "ok"), ("fell back", "fallback"), ("unsupported", "unsupported"), ("failed", "failed")):
        if row[col] == tried:
            return name
    return "mixed"


def _fallback_ops(info: pd.Series) -> str:
    ops: set[str] = set()
    for text in info.dropna():
        try:
            ops.update(map(str, json.loads(text).get("fallback_ops") or []))
        except (json.JSONDecodeError, AttributeError):
            continue
    return ",".join(sorted(ops))


def support_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Counts of each outcome per (device, op, dtype): :data:`SUPPORT_COLUMNS`.

    ``verdict`` is ``ran``/``fell back``/``unsupported``/``failed`` when every tried point had
    that outcome, ``mixed`` otherwise; ``fallback_ops`` lists ops that left the accelerator
    (from ``info_json``). Failed = build_error, runtime_error, timeout, crashed, device_lost.
    """
    if df.empty:
        return pd.DataFrame(columns=SUPPORT_COLUMNS)
    s = df["status"]
    counts = pd.DataFrame({"device": df["device"], "op": df["op"], "dtype": df["dtype"], "n": 1,
                           "ok": (s == status.OK).astype(int), "fallback": (s == status.FALLBACK).astype(int),
                           "unsupported": (s == status.UNSUPPORTED).astype(int), "failed": s.isin(FAILED).astype(int),
                           "skipped": (s == status.SKIPPED).astype(int)})
    out = counts.groupby(["device", "op", "dtype"], sort=True).sum().reset_index()
    out["verdict"] = out.apply(_verdict, axis=1)
    if "info_json" in df.columns:
        fb = df[s == status.FALLBACK].groupby(["device", "op", "dtype"])["info_json"].agg(_fallback_ops)
        out = out.join(fb.rename("fallback_ops"), on=["device", "op", "dtype"])
    else:
        out["fallback_ops"] = ""
    out["fallback_ops"] = out["fallback_ops"].fillna("")
    return out[SUPPORT_COLUMNS]


def _which(rows: pd.DataFrame, all_rows: pd.DataFrame) -> dict[str, list[str]]:
    """Parameter values that only the affected rows have (e.g. ``activation: gelu, mish``)."""
    return _only_in(_param_texts(all_rows), np.asarray(all_rows.index.isin(rows.index)))


def _param_texts(rows: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per parameter column of ``rows``: its values as text and where they are not null."""
    out = {}
    for col in param_columns(rows):
        s = rows[col]
        present = s.notna().to_numpy()
        text = np.full(len(s), "", dtype=object)
        text[present] = s[present].astype(str).to_numpy(dtype=object)
        out[col] = (text, present)
    return out


def _only_in(texts: dict[str, tuple[np.ndarray, np.ndarray]], affected: np.ndarray) -> dict[str, list[str]]:
    """:func:`_which` on the column texts of a group (from :func:`_param_texts`) and the mask of
    its affected rows."""
    out = {}
    for col, (text, present) in texts.items():
        bad = set(text[present & affected])
        good = set(text[present & ~affected])
        only = sorted(bad - good)
        if only and len(only) <= 8:
            out[col] = only
    return out


def find_support_issues(df: pd.DataFrame, min_fraction: float = 0.0) -> list[Anomaly]:
    """F7 anomalies (unsupported, fallback) and failures, one per (device, sweep, op, dtype, status group).

    Magnitude is the fraction of that op × dtype's points affected; groups below
    ``min_fraction`` are left out. The message names the parameter values only the affected
    points have and the first error text.
    """
    if df.empty:
        return []
    keys = ["device", "sweep", "op", "dtype"]
    groups = {"unsupported": [status.UNSUPPORTED], "fallback": [status.FALLBACK], "failed": list(FAILED)}
    affected = df["status"].isin([s for v in groups.values() for s in v])
    if not affected.any():
        return []
    # only the (device, sweep, op, dtype) groups with an affected point are looked at row by row
    gid = df.groupby(keys, sort=False).ngroup().to_numpy()
    hit_groups = np.unique(gid[affected.to_numpy() & (gid >= 0)])
    sub = df.loc[np.isin(gid, hit_groups), [c for c in df.columns if c not in ("samples_ms", "output_json")]]
    data = with_param_columns(sub.reset_index(drop=True))
    # plain object columns: the group loop below takes rows per group, slow on Arrow-backed strings
    data = data.astype({c: object for c in data.columns
                        if pd.api.types.is_string_dtype(data[c]) and not pd.api.types.is_object_dtype(data[c])})
    out = []
    for (device, sweep, op, dtype), g in data.groupby(keys, sort=True):
        texts = _param_texts(g)
        status_of = g["status"]
        for kind, statuses in groups.items():
            mask = status_of.isin(statuses).to_numpy()
            hit = g[mask]
            if hit.empty or len(hit) / len(g) < min_fraction:
                continue
            frac = len(hit) / len(g)
            which = _only_in(texts, mask)
            where = "; ".join(f"{k}={', '.join(v)}" for k, v in which.items())
            where = f" ({where})" if where else ""
            errors = [e for e in hit.get("error", pd.Series(dtype=str)).dropna().astype(str) if e]
            fb_ops = _fallback_ops(hit["info_json"]) if "info_json" in hit.columns else ""
            if kind == "unsupported":
                verb, advice = "is unsupported", "choose a supported variant or expect a CPU fallback"
            elif kind == "fallback":
                verb = "falls back off the accelerator"
                verb += f" ({fb_ops.replace(',', ', ')} ran elsewhere)" if fb_ops else ""
                advice = "avoid these ops on this device"
            else:
                verb, advice = "failed", "see the error texts"
            err = f" First error: {errors[0][:160]}" if errors else ""
            message = (f"On {device}, {op} in {dtype} {verb} for {len(hit)} of {len(g)} points ({pct(frac)})"
                       f"{where}; {advice}.{err}")
            evidence = {"op": op, "dtype": dtype, "n": int(len(g)), "n_affected": int(len(hit)),
                        "statuses": hit["status"].value_counts().to_dict(), "only_in_affected": which,
                        "fallback_ops": fb_ops.split(",") if fb_ops else [], "errors": sorted(set(errors))[:5]}
            out.append(Anomaly(kind=kind, device=str(device), sweep=str(sweep), axis="", at=str(dtype),
                               magnitude=float(frac), finding="F7" if kind != "failed" else "", message=message,
                               evidence_json=evidence_json(evidence)))
    return out
