"""Per-op profiles and memory of single points: ``hwbehave show RUN --point`` and the report's section.

A point's profile is the ``op_profile`` record its runtime left in ``info_json``
(``suite/agent/profiling.py``: a separate pass after timing, so the timed median is not the
profiled one). :func:`select_points` finds points by a unique id prefix or a parameter filter;
:func:`point_facts` and :func:`op_table` give what is shown for one point; :func:`costliest_profiles`
the report's per-op tables of the slowest profiled points.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from suite.analysis.timing import timing_label
from suite.errors import ConfigError
from suite.report.tables import Table

#: Ops listed per point (the rest summed into one row).
TOP_OPS = 15
#: Points with a per-op table in a report.
REPORT_POINTS = 3


def _info(row: pd.Series) -> dict[str, Any]:
    text = row.get("info_json")
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def profile_of(row: pd.Series) -> dict[str, Any] | None:
    """The point's ``op_profile`` record, or ``None``."""
    p = _info(row).get("op_profile")
    return p if isinstance(p, dict) and isinstance(p.get("ops"), list) else None


def _label(row: pd.Series) -> str:
    from suite.sweep.point import describe

    try:
        params = json.loads(row["params_json"]) if isinstance(row.get("params_json"), str) else {}
    except ValueError:
        params = {}
    return describe(str(row.get("op")), params, str(row.get("dtype")))


def select_points(df: pd.DataFrame, spec: str) -> pd.DataFrame:
    """Rows matching ``spec``: a point/job id prefix (``3f2a``) or a filter (``cout=32,dtype=int8``).

    A filter's keys are result columns (parameters, ``op``, ``dtype``, ``format``, ``status``);
    values compare as text, so ``cout=32`` matches the integer 32. No match is a ``ConfigError``
    that lists a few ids to choose from.
    """
    spec = spec.strip()
    if "=" in spec:
        mask = pd.Series(True, index=df.index)
        for part in spec.split(","):
            key, _, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if key not in df.columns:
                raise ConfigError("unknown column in the point filter", field="--point", value=key,
                                  expected="one of " + ", ".join(sorted(c for c in df.columns if not c.endswith("_json")
                                                                        and c != "samples_ms")))
            mask &= df[key].map(_text) == value
        hits = df[mask]
    else:
        hits = df[df["point_id"].astype(str).str.startswith(spec)
                  | df.get("job_id", df["point_id"]).astype(str).str.startswith(spec)]
    if hits.empty:
        some = ", ".join(f"{r.point_id} ({_label(r)})" for _, r in df.head(5).iterrows())
        raise ConfigError("no point matches", field="--point", value=spec,
                          expected=f"a point id prefix or a filter such as cout=32,dtype=int8; e.g. {some}")
    return hits


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def point_facts(row: pd.Series) -> list[tuple[str, str]]:
    """``(label, value)`` lines for one point: status, timing, memory, load, artifact."""
    def num(key: str, fmt: str, unit: str = "") -> str:
        v = row.get(key)
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{fmt.format(v)}{unit}"

    info = _info(row)
    facts = [("point", f"{row['point_id']} {_label(row)} ({row.get('format')})"),
             ("status", str(row.get("status")) + (f": {row['error']}" if isinstance(row.get("error"), str) else "")),
             ("median", f"{num('median_ms', '{:.4f}', ' ms')} (95% CI {num('ci_low_ms', '{:.4f}')} – "
                        f"{num('ci_high_ms', '{:.4f}')} ms, n {num('n', '{:.0f}')}, loop k {num('loop_k', '{:.0f}')})"
                        + (f", timing {row['timing']}" if _unmeasured(row) else "")),
             ("rounds", f"{num('rounds', '{:.0f}')} timed (round medians {_round_medians(row)}; between-round "
                        f"spread {num('spread_rel', '{:.1%}')}, the run's noise floor {num('noise_floor_rel', '{:.1%}')})"),
             ("peak memory", f"{num('peak_rss_mb', '{:.1f}', ' MB')} peak RSS of the runtime process "
                             "(VmHWM, reset before load)"),
             ("load / first inference", f"{num('load_ms', '{:.2f}', ' ms')} / {num('first_ms', '{:.3f}', ' ms')}"),
             ("cost", f"{num('macs', '{:,.0f}')} MACs, {num('param_count', '{:,.0f}')} parameters, "
                      f"{num('bytes_total', '{:,.0f}')} bytes moved"),
             ("artifact", f"{num('artifact_bytes', '{:,.0f}', ' bytes')}, provider {info.get('provider') or '–'}")]
    if info.get("precision"):
        facts.append(("precision", f"{info.get('precision')} (asked {info.get('precision_requested') or 'default'})"))
    if info.get("exec_types"):
        facts.append(("exec types", ", ".join(map(str, info["exec_types"]))))
    if info.get("memory_overall_mb") is not None:
        facts.append(("tool memory", f"{info['memory_overall_mb']} MB overall ({info.get('memory_kind')}, "
                                     "benchmark_model's own figure)"))
    return facts


def _unmeasured(row: pd.Series) -> bool:
    """A row whose timing kind is not wall-clock latency on the device (emulated, estimated, ...)."""
    timing = row.get("timing")
    return isinstance(timing, str) and timing != "measured"


def _round_medians(row: pd.Series) -> str:
    values = row.get("round_median_ms")
    try:
        return ", ".join(f"{float(v):.4f}" for v in values) + " ms" if values is not None and len(values) else "–"
    except TypeError:
        return "–"


def op_table(row: pd.Series, top: int = TOP_OPS) -> Table | None:
    """The point's per-op table (costliest first, the rest summed), or ``None`` without a profile."""
    profile = profile_of(row)
    if profile is None:
        return None
    ops = profile["ops"]
    shown = ops[:top]
    records = []
    cumulative = 0.0
    for op in shown:
        share = op.get("share") or 0.0
        cumulative += share
        records.append({"op": op.get("name"), "type": op.get("type"),
                        "where": op.get("exec_type") or op.get("provider") or "",
                        "time (µs)": f"{op['time_us']:.1f}", "share": f"{100 * share:.1f}%",
                        "cumulative": f"{100 * cumulative:.1f}%"})
    rest = ops[top:]
    left_out = int(profile.get("ops_total", len(ops))) - len(shown)
    if left_out > 0:
        rest_us = sum(op["time_us"] for op in rest)
        records.append({"op": f"({left_out} more)", "type": "", "where": "", "time (µs)": f"{rest_us:.1f}",
                        "share": f"{100 * (1 - cumulative):.1f}%", "cumulative": "100.0%"})
    frame = pd.DataFrame(records).set_index("op")
    median = row.get("median_ms")
    total_ms = float(profile.get("total_us") or 0) / 1000.0
    versus = (f"; the ops sum to {total_ms:.4f} ms per inference against the timed median {median:.4f} ms"
              if isinstance(median, float) and not math.isnan(median) else "")
    device = timing_label(str(row.get("device")), row.get("timing") if _unmeasured(row) else None)
    caption = (f"Per-op profile of {_label(row)} on {device} ({profile.get('source')}, "
               f"{profile.get('runs')} runs{versus})")
    return Table(f"op-profile-{row['point_id']}", caption, frame, "{}", notes=str(profile.get("note") or ""))


def no_profile_reason(row: pd.Series) -> str:
    """Why a point has no per-op table."""
    info = _info(row)
    if info.get("op_profile_error"):
        return str(info["op_profile_error"])
    if row.get("status") not in ("ok", "fallback"):
        return f"the point did not run ({row.get('status')})"
    return "no per-op profile was recorded: rerun with --profile (or runtime option profile: true)"


def costliest_profiles(df: pd.DataFrame, points: int = REPORT_POINTS) -> list[Table]:
    """Per-op tables of the ``points`` slowest profiled points of each device (by timed median)."""
    if df.empty or "info_json" not in df.columns:
        return []
    # only rows whose info mentions a profile are parsed (a JSON parse per row is what made this
    # section the slow part of a report over 100,000 measurements)
    info = df["info_json"]
    mentions = info.astype("string").str.contains('"op_profile"', regex=False).fillna(False).to_numpy(bool)
    timed = df[mentions & df["status"].isin(["ok", "fallback"]).to_numpy(bool)]
    if timed.empty:
        return []
    timed = timed[[profile_of(r) is not None for _, r in timed.iterrows()]]
    out = []
    for _, g in timed.groupby("device", sort=True):
        for _, row in g.sort_values("median_ms", ascending=False).head(points).iterrows():
            table = op_table(row, top=10)
            if table is not None:
                out.append(table)
    return out
