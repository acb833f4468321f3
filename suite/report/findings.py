"""The seven-findings table: one row per finding F1…F7, one column per device; each cell yes,
no or unresolved (cannot be decided at the run's noise level), or not measured."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from suite import status
from suite.analysis.overhead import overhead_frame, overhead_summary
from suite.analysis.pairs import point_noise_of
from suite.analysis.precision import quant_error_frame, speedup_frame, speedup_summary
from suite.analysis.records import FINDINGS, Anomaly
from suite.analysis.series import fmt_axis_value, numeric_axes, timed
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.analysis.timing import by_timing, has_latency, timing_kinds
from suite.analysis.uncertainty import CONFIRMED, UNRESOLVED
from suite.report.prepared import PreparedAnalysis
from suite.report.tables import Table

NOT_MEASURED = "not measured"


def _key_number(finding: str, a: Anomaly) -> str:
    """The number a findings cell shows for anomaly ``a`` (after ``yes:`` or ``unresolved:``)."""
    ev = a.evidence
    if finding == "F1":  # worded as the anomaly's message: where latency is higher, not the value before
        period = ev.get("period")
        upper = ", ".join(fmt_axis_value(s["next"]) for s in ev.get("steps", [])) or a.at
        what = f"steps every {period:g} {a.axis}" if period else f"steps at {a.axis} {upper}"
        return f"{what} (+{a.magnitude:.0%})"
    if finding == "F2":
        return f"{a.at} +{a.magnitude:.0%}"
    if finding == "F3":
        what = f"{ev.get('op')} {a.axis}={a.at}" if a.kind == "switch_overhead" else str(a.at)
        return f"{what} +{a.magnitude:.0%}"
    if finding == "F4":
        return f"elasticity {ev.get('elasticity', float('nan')):.2f} along {a.axis}"
    if finding == "F5":
        return f"{a.at} {a.magnitude:.0%} slower"
    if finding == "F6":
        return f"{a.at} {a.magnitude:.1%} rel. RMSE" if a.magnitude < 1 else f"{a.at} non-finite"
    verb = {"unsupported": "unsupported", "fallback": "falls back"}.get(a.kind, a.kind)
    return (f"{ev.get('op')} {ev.get('dtype')} {verb} ({ev.get('n_affected')} of {ev.get('n')} points)"
            if "n" in ev else f"{a.kind} ({a.magnitude:.0%} of points)")


def findings_table(df: pd.DataFrame, anomalies: Sequence[Anomaly],
                   thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                   prepared: PreparedAnalysis | None = None) -> pd.DataFrame:
    """Verdict per finding (rows F1…F7, plus ``title``) and device (columns).

    A cell is ``yes: <key number>`` (the largest *confirmed* anomaly of that finding on that
    device), ``unresolved: <key number>`` (only unresolved anomalies: it cannot be decided at
    this run's noise level, a third state beside yes and no), ``no`` (testable, nothing found;
    with a key number where one exists, e.g. the median int8 speedup) or ``not measured`` (the
    run had no data to test it on that device), or ``n/a`` for a latency finding on a device
    whose timings are of no latency kind (emulated). A device's rows of another timing kind than
    ``measured`` are a column of their own, ``"<device> (<kind>)"`` (:func:`~suite.analysis.timing.by_timing`).
    ``prepared``: :func:`suite.report.prepared.prepare` of ``df`` when a report already has it
    (its timed points and pair summaries are used instead of computing them again).
    """
    # columns per device and timing kind: "ethos-u55-128 (estimated)"
    df = prepared.frame if prepared is not None else by_timing(df)
    devices = sorted(map(str, df["device"].dropna().unique())) if not df.empty else []
    kinds = timing_kinds(df)
    data = prepared.data if prepared is not None else timed(df, thresholds)
    best: dict[tuple[str, str, str], Anomaly] = {}
    for a in anomalies:
        if not a.finding:
            continue
        key = (a.finding, a.device, a.verdict)
        held = best.get(key)
        if held is None or a.magnitude > held.magnitude:
            best[key] = a
    if prepared is not None:
        speed, over = prepared.speedup, prepared.overhead
    else:
        noise = point_noise_of(data, thresholds)
        speed = speedup_summary(speedup_frame(data, thresholds, noise), thresholds)
        over = overhead_summary(overhead_frame(data, thresholds, point_noise=noise), thresholds)
    quant = quant_error_frame(df)
    # each device's rows once (a boolean mask per cell copied the frame 7 x devices times)
    cols = [c for c in ("device", "status", "point_id") if c in df.columns]
    rows_of = {str(k): g for k, g in df[cols].groupby(df["device"].astype(str), sort=False)}
    data_of, speed_of, over_of, quant_of = ({str(k): g for k, g in f.groupby(f["device"].astype(str), sort=False)}
                                            if not f.empty else {} for f in (data, speed, over, quant))
    rows = {}
    for finding, title in FINDINGS.items():
        row = {"title": title}
        for dev in devices:
            if (finding, dev, CONFIRMED) in best:
                row[dev] = "yes: " + _key_number(finding, best[(finding, dev, CONFIRMED)])
            elif (finding, dev, UNRESOLVED) in best:
                row[dev] = "unresolved: " + _key_number(finding, best[(finding, dev, UNRESOLVED)])
            elif finding in LATENCY_FINDINGS and not has_latency(kinds.get(dev, [])):
                row[dev] = f"n/a: {', '.join(kinds[dev])} timings are no latency"
            else:
                row[dev] = _no(finding, rows_of.get(dev, df.iloc[:0][cols]), data_of.get(dev, data.iloc[:0]),
                               speed_of.get(dev, speed.iloc[:0]), over_of.get(dev, over.iloc[:0]),
                               quant_of.get(dev, quant.iloc[:0]))
        rows[finding] = row
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["title", *devices])
    frame.index.name = "finding"
    return frame


#: Findings about latency: a device whose timings are of no latency kind (emulated) cannot show them.
LATENCY_FINDINGS = ("F1", "F2", "F3", "F4", "F5")


def cell_state(cell: str) -> str:
    """``yes``, ``unresolved``, ``no``, ``n/a`` or ``not measured``: the state of a findings-table cell."""
    for state in ("yes", "unresolved", "no", "n/a"):
        if cell == state or cell.startswith(state + ":"):
            return state
    return NOT_MEASURED


def _no(finding: str, rows: pd.DataFrame, d: pd.DataFrame, s: pd.DataFrame, over: pd.DataFrame,
        q: pd.DataFrame) -> str:
    """The cell of a finding nothing was found for on one device, from its rows, timed points
    (``d``), speedup and overhead summaries and output-error rows (``q``)."""
    if finding in ("F1", "F4"):
        return "no" if any(d[c].nunique() >= 4 for c in numeric_axes(d)) else NOT_MEASURED
    if finding in ("F2", "F3"):
        kinds = {"F2": ["activation"], "F3": ["switch", "op"]}[finding]
        o = over[over["kind"].isin(kinds)]
        return f"no: at most {o['overhead'].max():+.0%}" if len(o) else NOT_MEASURED
    if finding == "F5":
        if s.empty:
            return NOT_MEASURED
        per = s.groupby("dtype")["speedup"].median()
        return "no: " + ", ".join(f"{k} {v:.2f}x" for k, v in per.items())
    if finding == "F6":
        if q.empty:
            return NOT_MEASURED
        per = q.groupby("dtype")["rel_rmse"].median()
        return "no: " + ", ".join(f"{k} {v:.1%} RMSE" for k, v in per.items())
    return _support_cell(rows)


def _support_cell(d: pd.DataFrame) -> str:
    """F7 without an unsupported or fallback anomaly: what was observed, in points.

    ``no: all 35 points ran``; failures for other reasons (build errors, timeouts, crashes) are
    no support verdict, so they are counted beside it (``no: 33 of 35 points ran; 2 failed
    otherwise (build_error 2)``); when nothing ran there is nothing to judge support on.
    """
    tried = d[d["status"] != status.SKIPPED]
    if tried.empty:
        return NOT_MEASURED
    keyed = tried.assign(_point=tried["point_id"].astype(str) if "point_id" in tried.columns else range(len(tried)))
    ran = set(keyed.loc[keyed["status"].isin(status.TIMED), "_point"])
    failed = keyed[~keyed["_point"].isin(ran)].drop_duplicates("_point")
    points = keyed["_point"].nunique()
    if failed.empty:
        return f"no: all {points} points ran"
    why = ", ".join(f"{k} {v}" for k, v in failed["status"].value_counts().items())
    if not ran:
        return f"{NOT_MEASURED}: no point ran ({why})"
    return f"no: {len(ran)} of {points} points ran; the others failed otherwise ({why})"


def findings_as_table(frame: pd.DataFrame) -> Table:
    """The findings frame as a :class:`~suite.report.tables.Table` for any renderer."""
    return Table("findings", "The seven findings of the study, per device", frame, "{}")
