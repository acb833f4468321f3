"""Self-contained HTML rendering of a :class:`~suite.report.document.ReportDocument`.

No scripts, no external resources: CSS is inline and figures are inline SVG (their text stays
text: searchable, sharp at any zoom), so the file opens offline and can be published as a static
page. All text is escaped. The page opens with the findings (heat map and table) and the
figures; the full anomaly list, environment and protocol follow, collapsed.
"""

from __future__ import annotations

import html

from suite.report.document import NO_PROFILES, PROFILES_HEADING, ReportDocument, flatten
from suite.report.figures import Figure
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
figure{margin:1rem 0 2rem}figure svg.figure{display:block;max-width:100%;height:auto}
figcaption{font-size:.9rem;color:#444;max-width:960px}.note{font-size:.8rem;color:#555}
.scroll{overflow-x:auto;max-width:100%}nav.toc{font-size:.9rem}nav.toc a{margin-right:.8rem}
details{margin:.8rem 0}details>summary{cursor:pointer;font-weight:600}
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


#: Figure sections after the findings: (kind, id, heading, what to say when there is none).
FIGURE_SECTIONS = (
    ("latency", "latency", "Latency along the sweeps", "No series with three or more points along a numeric axis."),
    ("overhead", "overhead", "Overhead per activation and per op", "No activation, switch or op pairs to compare."),
    ("speedup", "speedup", "Speedup of lower precisions", "No lower-precision points with an fp32 twin."),
    ("devices", "devices", "Across devices", "No series measured on more than one device."),
    ("distribution", "distributions", "Raw-sample distributions", "No raw samples to draw."),
)


def _figure(fig: Figure) -> str:
    svg = fig.svg.replace("<svg ", f'<svg aria-label="{_e(fig.alt)}" ', 1)
    return (f'<figure class="plot" data-kind="{_e(fig.kind)}" id="{_e(fig.key)}">{svg}'
            f"<figcaption><b>{_e(fig.title)}.</b> {_e(fig.caption)}</figcaption></figure>")


def _some(names: list[str], limit: int = 12) -> str:
    """Up to ``limit`` names, then how many more."""
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _floors(floors: dict[str, float]) -> str:
    """The runs' noise floors (issue 10: effects below them are not claimed), one line."""
    if not floors:
        return ""
    if len(floors) <= 6:
        text = ", ".join(f"{_e(d)} {v:.1%}" for d, v in floors.items())
    else:
        v = sorted(floors.values())
        text = f"{v[0]:.1%} to {v[-1]:.1%} over {len(v)} devices (median {v[len(v) // 2]:.1%})"
    return f'<p class="floors">Run noise floor (no effect below it is claimed): {text}.</p>'


def render_html(doc: ReportDocument) -> str:
    """The whole report as one HTML string."""
    s = doc.summary
    statuses = ", ".join(f"{k} {v}" for k, v in s["statuses"].items())
    by_kind: dict[str, list[Figure]] = {}
    for fig in doc.figures:
        by_kind.setdefault(fig.kind, []).append(fig)
    toc = [("findings", "Findings")] + [(sid, head) for _, sid, head, _ in FIGURE_SECTIONS] + [
        ("tables", "Tables"), ("profiles", "Per-op profiles"), ("support", "Support matrix"),
        ("anomalies", "All anomalies"), ("environment", "Environment and protocol")]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(doc.title)}</h1>",
        f"<p>{s['measurements']} measurements on {len(s['devices'])} device(s) "
        f"({_e(_some(s['devices']))}), sweeps {_e(', '.join(s['sweeps']))}; statuses: {_e(statuses)}. "
        f"{s['anomalies']} anomalies beyond the measurement noise, {s.get('unresolved', 0)} unresolved at this "
        "noise level.</p>",
        _floors(s.get("noise_floors") or {}),
        '<nav class="toc">' + "".join(f'<a href="#{sid}">{_e(head)}</a>' for sid, head in toc) + "</nav>",
        '<h2 id="findings">Findings</h2>',
    ]
    parts += [_figure(f) for f in by_kind.get("findings", [])]
    parts += ['<div class="scroll">', _findings(doc.findings), "</div>"]
    for kind, sid, heading, empty in FIGURE_SECTIONS:
        parts.append(f'<h2 id="{sid}">{_e(heading)}</h2>')
        figs = by_kind.get(kind, [])
        parts += [_figure(f) for f in figs] if figs else [f"<p>{_e(empty)}</p>"]
    parts.append('<h2 id="tables">Tables</h2>')
    for t in doc.tables:
        parts.append('<div class="scroll">' + (to_html(t) if not t.frame.empty else
                                               f"<p>{_e(t.caption)}: nothing to show.</p>") + "</div>")
    parts.append(f'<h2 id="profiles">{_e(PROFILES_HEADING)}</h2>')
    for t in doc.op_profiles:
        parts.append(to_html(t))
    if not doc.op_profiles:
        parts.append(f"<p>{_e(NO_PROFILES)}</p>")
    parts += ['<h2 id="support">Support matrix</h2>',
              '<div class="scroll">' + (to_html(doc.support) if not doc.support.frame.empty
                                        else "<p>No measurements.</p>") + "</div>",
              '<h2 id="anomalies">All anomalies, largest first</h2>',
              f"<details><summary>{doc.n_anomalies} anomalies ({s['anomalies']} confirmed, "
              f"{s.get('unresolved', 0)} unresolved): show the table</summary>",
              '<div class="scroll">', _anomalies(doc), "</div></details>",
              '<h2 id="environment">Environment and protocol</h2>',
              "<details><summary>Environment</summary>", _key_values(doc.environment, "No manifests given."),
              "</details><details><summary>Protocol</summary>",
              _key_values(doc.protocol, "No protocol recorded in the manifests."),
              "</details><details><summary>Thresholds</summary>", _key_values([doc.thresholds], "Defaults."),
              "</details>", "</body></html>"]
    return "\n".join(parts) + "\n"
