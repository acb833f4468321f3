"""Self-contained HTML rendering of a :class:`~suite.report.document.ReportDocument`.

No scripts, no external resources: CSS is inline and figures are base64 ``data:`` URIs, so
the file opens offline and can be published as a static page. All text is escaped.
"""

from __future__ import annotations

import base64
import html

from suite.analysis.records import FINDINGS
from suite.report.document import NO_PROFILES, PROFILES_HEADING, ReportDocument, flatten
from suite.report.tables import Table, to_html

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f3f3f3}caption{text-align:left;font-weight:600;padding:.3rem 0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{background:#fde8e8}.no{background:#eaf6ea}.na{color:#888}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}.note{font-size:.8rem;color:#555}
code{background:#f6f6f6;padding:0 .2rem}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _findings(table: Table) -> str:
    frame = table.frame
    head = "<tr><th>finding</th>" + "".join(f"<th>{_e(c)}</th>" for c in frame.columns) + "</tr>"
    rows = []
    for idx, row in frame.iterrows():
        cells = []
        for col, value in row.items():
            text = str(value)
            cls = "" if col == "title" else (" class=\"yes\"" if text.startswith("yes") else
                                             " class=\"no\"" if text.startswith("no") else " class=\"na\"")
            cells.append(f"<td{cls}>{_e(text)}</td>")
        rows.append(f"<tr><th>{_e(idx)}</th>{''.join(cells)}</tr>")
    return (f'<table class="findings"><caption>{_e(table.caption)}</caption><thead>{head}</thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _anomalies(doc: ReportDocument) -> str:
    if not doc.anomalies:
        return "<p>No anomalies beyond the measurement noise.</p>"
    rows = []
    for i, a in enumerate(doc.anomalies, 1):
        rows.append(f"<tr><td class=\"num\">{i}</td><td>{_e(a.finding or '–')}</td><td>{_e(a.kind)}</td>"
                    f"<td>{_e(a.device)}</td><td>{_e(a.sweep)}</td><td class=\"num\">{a.magnitude:.1%}</td>"
                    f"<td>{_e(a.verdict)}</td><td>{_e(a.message)}</td></tr>")
    more = (f'<p class="note">{doc.n_anomalies - len(doc.anomalies)} more not listed.</p>'
            if doc.n_anomalies > len(doc.anomalies) else "")
    return ("<table><thead><tr><th>#</th><th>finding</th><th>kind</th><th>device</th><th>sweep</th>"
            "<th>magnitude</th><th>verdict</th><th>what to do</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + more)


def _key_values(items: list[dict], empty: str) -> str:
    if not items or not any(items):
        return f"<p>{_e(empty)}</p>"
    parts = []
    for i, item in enumerate(items, 1):
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in flatten(item))
        parts.append(f"<table><caption>run {i}</caption><tbody>{rows}</tbody></table>")
    return "".join(parts)


def render_html(doc: ReportDocument) -> str:
    """The whole report as one HTML string."""
    s = doc.summary
    statuses = ", ".join(f"{k} {v}" for k, v in s["statuses"].items())
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(doc.title)}</h1>",
        f"<p>{s['measurements']} measurements on {len(s['devices'])} device(s) "
        f"({_e(', '.join(s['devices']))}), sweeps {_e(', '.join(s['sweeps']))}; statuses: {_e(statuses)}. "
        f"{s['anomalies']} anomalies beyond the measurement noise, {s.get('unresolved', 0)} unresolved at this "
        "noise level.</p>",
        "<h2>Findings</h2>", _findings(doc.findings),
        "<ul class=\"note\">" + "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in FINDINGS.items()) + "</ul>",
        "<h2>Anomalies, largest first</h2>", _anomalies(doc),
        "<h2>Support matrix</h2>", to_html(doc.support) if not doc.support.frame.empty else "<p>No measurements.</p>",
        "<h2>Tables</h2>",
    ]
    for t in doc.tables:
        parts.append(to_html(t) if not t.frame.empty else f"<p>{_e(t.caption)}: nothing to show.</p>")
    parts.append(f"<h2>{_e(PROFILES_HEADING)}</h2>")
    for t in doc.op_profiles:
        parts.append(to_html(t))
    if not doc.op_profiles:
        parts.append(f"<p>{_e(NO_PROFILES)}</p>")
    parts.append("<h2>Latency along the sweeps</h2>")
    for fig in doc.figures:
        data = base64.b64encode(fig.png).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_e(fig.alt)}">'
                     f"<figcaption>{_e(fig.title)}</figcaption></figure>")
    if not doc.figures:
        parts.append("<p>No series with three or more points along a numeric axis.</p>")
    parts += ["<h2>Environment</h2>", _key_values(doc.environment, "No manifests given."),
              "<h2>Protocol</h2>", _key_values(doc.protocol, "No protocol recorded in the manifests."),
              "<h2>Thresholds</h2>", _key_values([doc.thresholds], "Defaults."),
              "</body></html>"]
    return "\n".join(parts) + "\n"
