"""The report's content, built once and rendered to HTML and Markdown; ``write_report``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from suite.analysis.records import Anomaly
from suite.analysis.support import support_matrix
from suite.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from suite.report.figures import (
    MAX_FIGURES,
    Figure,
    device_overlays,
    distribution_figures,
    findings_heatmap,
    latency_figures,
    overhead_figures,
    speedup_figure,
)
from suite.report.findings import findings_as_table, findings_table
from suite.report.op_profile import REPORT_POINTS, costliest_profiles
from suite.report.prepared import PreparedAnalysis, prepare
from suite.report.tables import Table, standard_tables

#: What the per-op section says when no point was profiled.
NO_PROFILES = ("No per-op profiles in these runs: `hwbehave run --profile` records them (a separate pass "
               "after timing), and runs of `--model` files have them by default.")
#: Its heading.
PROFILES_HEADING = f"Per-op profiles of the costliest points (up to {REPORT_POINTS} per device)"

#: Anomalies listed in full in a report (the rest are counted).
MAX_LISTED_ANOMALIES = 200

#: Manifest keys shown under "Environment" and "Protocol", when present.
ENVIRONMENT_KEYS = ("run_id", "sweep", "device", "environment", "versions", "suite_version", "git_commit", "host",
                    "started_at", "finished_at")
PROTOCOL_KEYS = ("protocol", "seed", "order_seed", "rounds", "sentinel_every", "noise_floor")


@dataclass(frozen=True)
class ReportDocument:
    """Everything a report shows, independent of the output format."""

    title: str
    summary: dict
    findings: Table
    anomalies: list[Anomaly]
    n_anomalies: int
    support: Table
    tables: list[Table]
    figures: list[Figure]
    environment: list[dict]
    protocol: list[dict]
    thresholds: dict = field(default_factory=dict)
    #: per-op tables of the costliest profiled points (suite/report/op_profile.py)
    op_profiles: list[Table] = field(default_factory=list)


def support_table(df: pd.DataFrame) -> Table:
    """Support matrix as a table: rows (op, dtype), columns devices, cells verdict (+ counts)."""
    m = support_matrix(df)
    if m.empty:
        return Table("support", "Support matrix", pd.DataFrame())

    def cell(r: pd.Series) -> str:
        if r["verdict"] == "ran":
            return "ran"
        parts = [f"{r[c]} {c}" for c in ("ok", "fallback", "unsupported", "failed", "skipped") if r[c]]
        return f"{r['verdict']} ({', '.join(parts)})"

    m = m.assign(cell=m.apply(cell, axis=1))
    frame = m.pivot_table(index=["op", "dtype"], columns="device", values="cell", aggfunc="first")
    frame.columns.name = None
    return Table("support", "Support matrix: what ran, fell back, was unsupported or failed", frame, "{}")


def _pick(manifest: dict, keys: Sequence[str]) -> dict:
    return {k: manifest[k] for k in keys if k in manifest}


def build_document(df: pd.DataFrame, anomalies: Sequence[Anomaly], manifests: Sequence[dict] = (), *,
                   title: str = "hwbehave report", thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   max_figures: int = MAX_FIGURES) -> ReportDocument:
    """Collect the report's sections from measurements, anomalies and run manifests."""
    prepared = prepare(df, thresholds)  # the analysis every section shares, computed once
    df = prepared.frame  # devices per timing kind, as the detectors saw them
    anomalies = list(anomalies)
    statuses = df["status"].value_counts().to_dict() if not df.empty else {}
    summary = {"measurements": int(len(df)),
               "devices": sorted(map(str, df["device"].dropna().unique())) if not df.empty else [],
               "sweeps": sorted(map(str, df["sweep"].dropna().unique())) if not df.empty else [],
               "statuses": {str(k): int(v) for k, v in statuses.items()},
               "anomalies": sum(a.confirmed for a in anomalies),
               "unresolved": sum(not a.confirmed for a in anomalies),
               "by_finding": {f: sum(a.finding == f for a in anomalies) for f in sorted({a.finding for a in anomalies
                                                                                         if a.finding})},
               "noise_floors": dict(sorted(prepared.floors.items()))}
    findings = findings_table(df, anomalies, thresholds, prepared=prepared)
    return ReportDocument(
        title=title, summary=summary,
        findings=findings_as_table(findings),
        anomalies=anomalies[:MAX_LISTED_ANOMALIES], n_anomalies=len(anomalies),
        support=support_table(df), tables=standard_tables(df, thresholds, prepared=prepared),
        figures=report_figures(prepared, findings, anomalies, max_figures=max_figures),
        environment=[_pick(m, ENVIRONMENT_KEYS) for m in manifests],
        protocol=[_pick(m, PROTOCOL_KEYS) for m in manifests],
        thresholds={k: v for k, v in asdict(thresholds).items()},
        op_profiles=costliest_profiles(df),
    )


def report_figures(prepared: PreparedAnalysis, findings: pd.DataFrame, anomalies: Sequence[Anomaly], *,
                   max_figures: int = MAX_FIGURES) -> list[Figure]:
    """Every figure of a report in reading order: the device x finding heat map, latency along the
    sweeps (at most ``max_figures``), overhead and speedup bars, cross-device overlays, sample
    distributions (:mod:`suite.report.figures`)."""
    out: list[Figure] = []
    heat = findings_heatmap(findings)
    if heat is not None:
        out.append(heat)
    out += latency_figures(prepared, anomalies, max_figures=max_figures)
    out += overhead_figures(prepared)
    speed = speedup_figure(prepared)
    if speed is not None:
        out.append(speed)
    out += device_overlays(prepared)
    out += distribution_figures(prepared)
    return out


def flatten(obj: object, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts/lists as ``(dotted.key, value)`` text pairs for key–value tables."""
    if isinstance(obj, dict):
        out = []
        for k, v in obj.items():
            out.extend(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, (list, tuple)) and not all(isinstance(v, (str, int, float, bool)) for v in obj):
        out = []
        for i, v in enumerate(obj):
            out.extend(flatten(v, f"{prefix}[{i}]"))
        return out
    if isinstance(obj, (list, tuple)):
        return [(prefix, ", ".join(map(str, obj)))]
    return [(prefix, obj if isinstance(obj, str) else json.dumps(obj, default=str))]


def write_report(df: pd.DataFrame, anomalies: Sequence[Anomaly], out_dir: str | Path,
                 manifests: Sequence[dict] = (), *, title: str = "hwbehave report",
                 thresholds: Thresholds = DEFAULT_THRESHOLDS, max_figures: int = MAX_FIGURES) -> dict[str, Path]:
    """Write ``report.html`` (self-contained, figures inline as SVG) and ``report.md`` (figures as
    SVG files beside it) to ``out_dir``; return ``{"html": path, "md": path}``."""
    from suite.report.html import render_html
    from suite.report.markdown import render_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = build_document(df, anomalies, manifests, title=title, thresholds=thresholds, max_figures=max_figures)
    html_path = out / "report.html"
    html_path.write_text(render_html(doc), encoding="utf-8")
    for fig in doc.figures:
        (out / fig.filename).write_text(fig.svg, encoding="utf-8")
    md_path = out / "report.md"
    md_path.write_text(render_markdown(doc), encoding="utf-8")
    return {"html": html_path, "md": md_path}
