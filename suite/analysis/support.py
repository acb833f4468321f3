"""Support matrix (finding F7): what ran, fell back, was unsupported or failed, per op × dtype × device."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd

from suite import status
from suite.analysis.records import Anomaly, evidence_json
from suite.analysis.series import PAYLOAD_COLUMNS, param_columns, pct, with_param_columns

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
    affected = np.asarray(all_rows.index.isin(rows.index))
    return _values_only_in(np.zeros(len(all_rows), dtype=np.int64), 1, _param_texts(all_rows), affected).get(0, {})


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


def _values_only_in(group: np.ndarray, n_groups: int, texts: dict[str, tuple[np.ndarray, np.ndarray]],
                    affected: np.ndarray) -> dict[int, dict[str, list[str]]]:
    """:func:`_which` of every group at once: per group (``group`` numbers each row's group
    ``0 .. n_groups - 1``), per column of ``texts`` (from :func:`_param_texts`), the values its
    ``affected`` rows have and its other rows lack, sorted, where there are one to eight. Values
    are codes of ``(group, value)`` cells, so the set differences of all groups are two
    ``np.unique`` and an ``np.isin`` per column."""
    out: dict[int, dict[str, list[str]]] = {}
    for col, (text, present) in texts.items():
        code = np.full(len(text), -1, dtype=np.int64)
        code[present], uniques = pd.factorize(text[present])
        k = max(len(uniques), 1)
        cell = group * k + code  # one per (group, value)
        bad = np.unique(cell[present & affected])
        only = bad[~np.isin(bad, cell[present & ~affected])]  # sorted: by group, then value code
        of_group = only // k
        counts = np.bincount(of_group, minlength=n_groups)
        for g in np.flatnonzero((counts > 0) & (counts <= 8)):
            lo, hi = np.searchsorted(of_group, [g, g + 1])
            out.setdefault(int(g), {})[col] = sorted(str(v) for v in uniques[only[lo:hi] % k])
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
    # only the (device, sweep, op, dtype) groups with an affected point are looked at, and only
    # the columns the messages need (the parameter columns, or params_json to expand them from)
    gid = df.groupby(keys, sort=False).ngroup().to_numpy()
    hit_groups = np.unique(gid[affected.to_numpy() & (gid >= 0)])
    kept = set(keys) | {"status", "error", "info_json", "params_json"} | set(param_columns(df))
    sub = df.loc[np.isin(gid, hit_groups), [c for c in df.columns if c in kept and c not in PAYLOAD_COLUMNS]]
    data = with_param_columns(sub.reset_index(drop=True))
    data = data.astype({c: object for c in data.columns
                        if pd.api.types.is_string_dtype(data[c]) and not pd.api.types.is_object_dtype(data[c])})
    group = data.groupby(keys, sort=True).ngroup().to_numpy()
    n_groups = int(group.max()) + 1
    n_rows = np.bincount(group, minlength=n_groups)
    rows_of = np.argsort(group, kind="stable")  # each group's rows, in frame order
    bounds = np.r_[0, np.cumsum(n_rows)]
    key_values = [data[k].to_numpy()[rows_of[bounds[:-1]]] for k in keys]
    texts = _param_texts(data)
    status_of = data["status"].to_numpy()
    error = data["error"] if "error" in data.columns else pd.Series(index=data.index, dtype=object)
    has_error = error.notna().to_numpy()
    error_text = np.full(len(data), "", dtype=object)
    error_text[has_error] = error[has_error].astype(str).to_numpy(dtype=object)
    info = data["info_json"].to_numpy() if "info_json" in data.columns else None
    masks = {kind: data["status"].isin(statuses).to_numpy() for kind, statuses in groups.items()}
    hits = {kind: np.bincount(group[mask], minlength=n_groups) for kind, mask in masks.items()}
    which_of = {kind: _values_only_in(group, n_groups, texts, mask) for kind, mask in masks.items()}
    out = []
    for g in range(n_groups):
        device, sweep, op, dtype = (v[g] for v in key_values)
        n = int(n_rows[g])
        rows = rows_of[bounds[g]:bounds[g + 1]]
        for kind in groups:
            n_hit = int(hits[kind][g])
            if n_hit == 0 or n_hit / n < min_fraction:
                continue
            frac = n_hit / n
            hit = rows[masks[kind][rows]]
            which = which_of[kind].get(g, {})
            where = "; ".join(f"{k}={', '.join(v)}" for k, v in which.items())
            where = f" ({where})" if where else ""
            errors = [e for e in error_text[hit] if e]
            fb_ops = _fallback_ops(pd.Series(info[hit], dtype=object)) if info is not None else ""
            if kind == "unsupported":
                verb, advice = "is unsupported", "choose a supported variant or expect a CPU fallback"
            elif kind == "fallback":
                verb = "falls back off the accelerator"
                verb += f" ({fb_ops.replace(',', ', ')} ran elsewhere)" if fb_ops else ""
                advice = "avoid these ops on this device"
            else:
                verb, advice = "failed", "see the error texts"
            err = f" First error: {errors[0][:160]}" if errors else ""
            message = (f"On {device}, {op} in {dtype} {verb} for {n_hit} of {n} points ({pct(frac)})"
                       f"{where}; {advice}.{err}")
            evidence = {"op": op, "dtype": dtype, "n": n, "n_affected": n_hit,
                        "statuses": dict(Counter(status_of[hit].tolist())), "only_in_affected": which,
                        "fallback_ops": fb_ops.split(",") if fb_ops else [], "errors": sorted(set(errors))[:5]}
            out.append(Anomaly(kind=kind, device=str(device), sweep=str(sweep), axis="", at=str(dtype),
                               magnitude=float(frac), finding="F7" if kind != "failed" else "", message=message,
                               evidence_json=evidence_json(evidence)))
    return out
