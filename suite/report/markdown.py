"""Markdown rendering of a :class:`~suite.report.document.ReportDocument` (figures as SVG files beside it)."""

from __future__ import annotations

from suite.analysis.records import FINDINGS
from suite.report.document import NO_PROFILES, PROFILES_HEADING, ReportDocument, flatten
from suite.report.tables import to_markdown


def _esc(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _key_values(items: list[dict], empty: str) -> list[str]:
    if not items or not any(items):
        return [empty, ""]
    lines = []
    for i, item in enumerate(items, 1):
        lines += [f"*run {i}*", "", "| key | value |", "|---|---|"]
        lines += [f"| {_esc(k)} | {_esc(v)} |" for k, v in flatten(item)]
        lines.append("")
    return lines


def render_markdown(doc: ReportDocument) -> str:
    """The whole report as Markdown; figures are referenced by their file names."""
    s = doc.summary
    statuses = ", ".join(f"{k} {v}" for k, v in s["statuses"].items())
    lines = [f"# {doc.title}", "",
             f"{s['measurements']} measurements on {len(s['devices'])} device(s) ({', '.join(s['devices'])}), "
             f"sweeps {', '.join(s['sweeps'])}; statuses: {statuses}. {s['anomalies']} anomalies beyond the "
             f"measurement noise, {s.get('unresolved', 0)} unresolved at this noise level.", "", "## Findings", "", to_markdown(doc.findings)]
    lines += [f"- **{k}**: {v}" for k, v in FINDINGS.items()]
    # the figures right after the findings (heat map, latency, overheads, devices, distributions)
    lines += ["", "## Figures", ""]
    for fig in doc.figures:
        lines += [f"![{_esc(fig.alt)}]({fig.filename})", "", f"*{_esc(fig.title)}.* {_esc(fig.caption)}", ""]
    if not doc.figures:
        lines += ["No figures: no series with three or more points along a numeric axis.", ""]
    lines += ["", "## Anomalies, largest first", ""]
    if doc.anomalies:
        lines += ["| # | finding | kind | device | magnitude | verdict | what to do |", "|---:|---|---|---|---:|---|---|"]
        lines += [f"| {i} | {a.finding or '–'} | {a.kind} | {_esc(a.device)} | {a.magnitude:.1%} | {a.verdict} | "
                  f"{_esc(a.message)} |" for i, a in enumerate(doc.anomalies, 1)]
        if doc.n_anomalies > len(doc.anomalies):
            lines += ["", f"{doc.n_anomalies - len(doc.anomalies)} more not listed."]
    else:
        lines.append("No anomalies beyond the measurement noise.")
    lines += ["", "## Support matrix", "", to_markdown(doc.support) if not doc.support.frame.empty else "No measurements.",
              "## Tables", ""]
    for t in doc.tables:
        lines += [to_markdown(t) if not t.frame.empty else f"{t.caption}: nothing to show.", ""]
    lines += [f"## {PROFILES_HEADING}", ""]
    for t in doc.op_profiles:
        lines += [to_markdown(t), ""]
    if not doc.op_profiles:
        lines += [NO_PROFILES, ""]
    lines += ["## Environment", ""] + _key_values(doc.environment, "No manifests given.")
    lines += ["## Protocol", ""] + _key_values(doc.protocol, "No protocol recorded in the manifests.")
    lines += ["## Thresholds", ""] + _key_values([doc.thresholds], "Defaults.")
    return "\n".join(lines) + "\n"
