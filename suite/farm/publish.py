"""Publish a results root as a static site: browsable offline, no external resources.

Layout of ``out/``::

    index.html                 devices, their latest runs, latest findings
    devices/<device>.html      runs, history plots, steps over time, sustained curves
    img/<device>-*.png         matplotlib figures (Agg backend)

Every link is relative and every style is inline, so the folder can be opened from disk,
copied to a web server as is, or attached to a report.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from suite import status as st
from suite.errors import ResultsError
from suite.farm.history import device_history, point_label
from suite.farm.sustain import SUSTAIN_JSON, read_sustain
from suite.report.run_analysis import RunAnalysis, analyse_runs
from suite.results import damage
from suite.results.query import find_runs
from suite.results.store import read_manifest

#: Point lines drawn per history plot (the most variable ones first); the rest are listed.
MAX_LINES = 12
#: Anomalies listed on the index page (largest first; ``hwbehave analyse`` lists them all).
MAX_ANOMALIES = 50

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;font-size:90%}
th{background:#f3f3f3}td.num{text-align:right}img{max-width:100%;border:1px solid #eee}
.bad{color:#b00}.ok{color:#070}nav a{margin-right:1em}code{background:#f6f6f6}"""


@dataclass(frozen=True)
class PublishOutcome:
    """What was written."""

    out_dir: Path
    pages: tuple[str, ...]
    images: tuple[str, ...]


def _e(x: Any) -> str:
    return html.escape(str(x))


def _page(title: str, body: str, depth: int = 0) -> str:
    home = "../" * depth + "index.html"
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><nav><a href=\"{home}\">hwbehave results</a></nav>"
            f"<h1>{_e(title)}</h1>{body}</body></html>\n")


def _table(rows: list[dict[str, Any]], cols: list[str] | None = None, raw: tuple[str, ...] = ()) -> str:
    if not rows:
        return "<p>none</p>"
    cols = cols or list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = v if c in raw else _e(f"{v:.4g}" if isinstance(v, float) else v)
            cells.append(f"<td class=num>{text}</td>" if num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _runs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    try:
        runs = find_runs([root])
    except ResultsError:
        return []
    out = []
    for r in runs:
        try:
            out.append((r, read_manifest(r)))
        except ResultsError as exc:  # a newer schema or a damaged manifest: said, and left out
            damage.warn(f"{exc}; run left out")
    return sorted(out, key=lambda x: x[1].get("created_at", ""))


def _sustained(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob(SUSTAIN_JSON))


def latest_findings(analysis: RunAnalysis) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The findings table (one row per finding, a verdict per device) and the anomalies behind it,
    as table rows, from the same analysis ``hwbehave analyse`` runs."""
    from suite.report.findings import findings_table

    table = findings_table(analysis.measurements, analysis.anomalies)
    findings = [{"finding": f, **row} for f, row in table.to_dict("index").items()]
    anomalies = [{"finding": a.finding or "", "verdict": a.verdict, "kind": a.kind, "device": a.device,
                  "sweep": a.sweep, "magnitude": f"{a.magnitude:.1%}", "message": a.message}
                 for a in analysis.anomalies[:MAX_ANOMALIES]]
    return findings, anomalies


def publish(root: str | Path, out: str | Path) -> PublishOutcome:
    """Write the static site for every run under ``root`` into ``out`` (replacing it)."""
    import matplotlib

    matplotlib.use("Agg")
    root, out = Path(root), Path(out)
    runs = _runs(root)
    sustained = _sustained(root)
    if not runs and not sustained:
        raise ResultsError(f"{root}: no run directories and no sustained runs to publish")
    if out.exists():
        shutil.rmtree(out)
    (out / "devices").mkdir(parents=True)
    (out / "img").mkdir()
    pages, images = ["index.html"], []
    by_device: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for r, m in runs:
        by_device.setdefault(m.get("device_name", "?"), []).append((r, m))
    sustain_by_device: dict[str, list[Path]] = {}
    for s in sustained:
        meta, _ = read_sustain(s)
        sustain_by_device.setdefault(meta.get("device", "?"), []).append(s)

    latest = {}
    for dev, dev_runs in by_device.items():
        for r, m in dev_runs:
            latest[(dev, (m.get("sweep") or {}).get("name"))] = r
    analysis = analyse_runs(list(latest.values())) if latest else None
    df_latest = analysis.measurements if analysis is not None else pd.DataFrame()

    device_rows = []
    for dev in sorted(set(by_device) | set(sustain_by_device)):
        dev_runs = by_device.get(dev, [])
        df_dev = df_latest[df_latest["device"] == dev] if len(df_latest) else df_latest
        ok = df_dev[df_dev["status"].isin(list(st.TIMED))] if len(df_dev) else df_dev
        device_rows.append({
            "device": f"<a href=\"devices/{_e(dev)}.html\">{_e(dev)}</a>", "runs": len(dev_runs),
            "latest run": _e(dev_runs[-1][1].get("created_at", "")[:19]) if dev_runs else "",
            "points (latest)": len(df_dev), "ok": len(ok), "failed": len(df_dev) - len(ok),
            "median range (ms)": (f"{ok['median_ms'].min():.4g} – {ok['median_ms'].max():.4g}" if len(ok) else ""),
            "sustained": len(sustain_by_device.get(dev, []))})
        page, imgs = _device_page(dev, dev_runs, sustain_by_device.get(dev, []), root, out)
        (out / "devices" / f"{dev}.html").write_text(page)
        pages.append(f"devices/{dev}.html")
        images.extend(imgs)

    findings, anomalies = latest_findings(analysis) if analysis is not None else ([], [])
    more = len(analysis.anomalies) - len(anomalies) if analysis is not None else 0
    body = (f"<p>{len(runs)} run(s) under <code>{_e(root)}</code>.</p><h2>Devices</h2>"
            + _table(device_rows, raw=("device", "latest run"))
            + "<h2>Latest findings</h2><p>Latest run of each (device, sweep), analysed as "
            "<code>hwbehave analyse</code> does: yes, no or unresolved (cannot be decided at the run's "
            "noise level) per device.</p>" + _table(findings)
            + "<h2>Anomalies, largest first</h2>" + _table(anomalies)
            + (f"<p>{more} more: <code>hwbehave analyse</code> lists them all.</p>" if more > 0 else ""))
    (out / "index.html").write_text(_page("hwbehave results", body))
    return PublishOutcome(out_dir=out, pages=tuple(pages), images=tuple(images))


def _device_page(dev: str, runs: list[tuple[Path, dict[str, Any]]], sustained: list[Path], root: Path,
                 out: Path) -> tuple[str, list[str]]:
    images: list[str] = []
    parts = []
    rows = []
    for r, m in reversed(runs):
        counts = m.get("counts") or {}
        rows.append({"created": m.get("created_at", "")[:19], "sweep": (m.get("sweep") or {}).get("name"),
                     "status": m.get("status"), "ok": counts.get("ok", 0),
                     "failed": sum(v for k, v in counts.items() if k not in st.TIMED),
                     "run": str(r.relative_to(root.resolve())) if r.is_relative_to(root.resolve()) else str(r),
                     "git": (m.get("git_commit") or "")[:12]})
    parts.append("<h2>Runs</h2>" + _table(rows))
    sweeps = sorted({(m.get("sweep") or {}).get("name") for _, m in runs} - {None})
    for sweep in sweeps:
        try:
            histories, steps = device_history([r for r, _ in runs], dev, sweep)
        except ResultsError:
            continue
        name = f"{_slug(dev)}-{_slug(sweep)}-history.png"
        parts.append(f"<h2>History: {_e(sweep)}</h2>")
        if _history_plot(histories, steps, out / "img" / name, f"{dev} — {sweep}"):
            images.append(f"img/{name}")
            parts.append(f"<img src=\"../img/{_e(name)}\" alt=\"history of {_e(sweep)}\">")
        elif len({r for h in histories for r in h.runs}) < 2:
            parts.append("<p>One run so far: the history plot starts with the second run of this sweep.</p>")
        else:
            parts.append("<p>No timed point to plot.</p>")
        step_rows = [{"point": point_label(s.op, s.params, s.dtype),
                      "before (ms)": s.before_ms, "after (ms)": s.after_ms, "change": f"{s.change:+.1%}",
                      "when": f"{s.before_at[:19]} → {s.after_at[:19]}",
                      "what changed": "; ".join(f"{k}: {a} → {b}" for k, (a, b) in list(s.env_diff.items())[:5])}
                     for s in steps]
        parts.append(f"<h3>Steps over time ({len(steps)})</h3>" + _table(step_rows))
    for s in sustained:
        meta, df = read_sustain(s)
        name = f"{_slug(dev)}-sustain-{_slug(s.name)}.png"
        if df is not None and len(df) and _sustain_plot(meta, df, out / "img" / name):
            images.append(f"img/{name}")
            label = (meta.get("point") or {}).get("label", "")
            parts.append(f"<h2>Sustained: {_e(label)}</h2><p>{_e(meta.get('settings', {}).get('minutes'))} min, "
                         f"started {_e(meta.get('created_at', '')[:19])}</p>"
                         f"<img src=\"../img/{_e(name)}\" alt=\"sustained latency\">")
    return _page(f"device {dev}", "".join(parts), depth=1), images


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(s))


def _history_plot(histories: list[Any], steps: list[Any], path: Path, title: str) -> bool:
    """Latency of each point per run over time; ``False`` (nothing drawn) with fewer than two runs:
    one run is one column of dots, and a date axis around one date spans years."""
    import matplotlib.pyplot as plt

    usable = [h for h in histories if len(h.runs) >= 1 and np.isfinite(h.latency_ms).any()]
    if len({t for h in usable for t in h.created_at}) < 2:
        return False
    stepped = {s.point_id for s in steps}
    usable.sort(key=lambda h: (h.point_id not in stepped, -float(np.nanstd(h.latency_ms / np.nanmedian(h.latency_ms)))))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    keys = sorted({k for h in usable for k in h.params})
    varying = [k for k in keys if len({json.dumps(h.params.get(k)) for h in usable}) > 1]
    for h in usable[:MAX_LINES]:
        x = pd.to_datetime(list(h.created_at), utc=True, format="ISO8601")
        ax.errorbar(x, h.latency_ms, yerr=h.half_ms, marker="o", ms=3, capsize=2,
                    label=point_label(h.op, h.params, h.dtype, varying)[:60], lw=2 if h.point_id in stepped else 1)
    for s in steps:
        ax.axvline(pd.to_datetime(s.after_at, utc=True, format="ISO8601"), color="red", alpha=0.3, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("run started (UTC)")
    ax.set_ylabel("median latency (ms, 95 % CI)")
    ax.set_title(title + (f" — {len(usable) - MAX_LINES} more points not drawn" if len(usable) > MAX_LINES else ""))
    ax.legend(fontsize=6, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _sustain_plot(meta: dict[str, Any], df: pd.DataFrame, path: Path) -> bool:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(df["t_s"], df["latency_ms"], ",", alpha=0.3, color="grey", label="samples")
    wins = [w for w in meta.get("windows", []) if w.get("median_ms") is not None]
    if wins:
        ax.plot([(w["t_start_s"] + w["t_end_s"]) / 2 for w in wins], [w["median_ms"] for w in wins], "-o", ms=3,
                label="window median")
    hi = float(np.percentile(df["latency_ms"], 99.5))
    ax.set_ylim(0, hi * 1.2)  # a few outliers would otherwise flatten the curve
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("latency (ms)")
    temps = []
    for b in meta.get("batches", []):
        for when in ("start", "end"):
            e = b.get(when) or {}
            t = e.get("temperatures_c") or {}
            if t:
                temps.append((e["t_s"], max(t.values())))
    if temps:
        ax2 = ax.twinx()
        ax2.plot([t for t, _ in temps], [c for _, c in temps], color="red", alpha=0.6, label="max temperature")
        ax2.set_ylabel("°C")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(json.dumps((meta.get("point") or {}).get("label", ""))[1:-1])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
