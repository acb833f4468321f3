"""Headless Chromium for the report tests: render a page and read back what the browser laid out.

:func:`measure` loads a copy of a report with a small script appended (the report itself has
none) that records, for every inline SVG figure, the bounding boxes of its legend, axes area,
axis labels and texts, its x tick positions and the marks the report draws (steps, plateaus,
bars, heat-map cells, series lines) with their computed stroke and fill, and for the page the
position of its sections. Chromium prints the DOM (``--dump-dom``); the record is read from it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from suite.testing.requirements import require

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

SCRIPT = r"""
<script>
(function () {
  const box = e => { const b = e.getBoundingClientRect();
                     return [b.left + scrollX, b.top + scrollY, b.right + scrollX, b.bottom + scrollY]; };
  const figures = [];
  for (const svg of document.querySelectorAll('svg.figure')) {
    const key = svg.dataset.key;
    const byId = id => svg.querySelector('[id="' + key + '-' + id + '"]');
    const legend = byId('legend');
    const one = id => { const e = byId(id); return e ? box(e) : null; };
    const marks = [];
    for (const e of svg.querySelectorAll('[id^="' + key + '-"]')) {
      const id = e.id.slice(key.length + 1);
      if (!/^(step|plateau|bar|cell|series|device|ecdf|interval)-/.test(id)) continue;
      const shape = e.querySelector('path, use') || e;
      const st = getComputedStyle(shape);
      marks.push({id: id, box: box(e), stroke: st.stroke, fill: st.fill, dash: st.strokeDasharray});
    }
    const firstAxes = svg.querySelector('[id="' + key + '-axes_1"]');
    const xticks = [];
    if (firstAxes) {
      for (const t of firstAxes.querySelectorAll('[id^="' + key + '-xtick_"]')) {
        const use = t.querySelector('use');
        const text = t.querySelector('text');
        if (!use || !text) continue;
        const b = box(use);
        xticks.push({text: text.textContent, x: (b[0] + b[2]) / 2, box: box(text)});
      }
    }
    const texts = [...svg.querySelectorAll('text')].map(t => ({
      text: t.textContent, box: box(t), legend: legend ? legend.contains(t) : false}));
    figures.push({key: key, kind: svg.closest('figure').dataset.kind, svg: box(svg),
                  title: svg.closest('figure').querySelector('figcaption b').textContent,
                  legend: legend ? box(legend) : null, axes: one('axes-area'), xlabel: one('xlabel'),
                  ylabel: one('ylabel'), y2label: one('y2label'), xticks: xticks, texts: texts, marks: marks});
  }
  const sections = {};
  for (const h of document.querySelectorAll('h2[id]')) sections[h.id] = box(h)[1];
  const details = [...document.querySelectorAll('details')].map(d => ({open: d.open, text: d.querySelector('summary').textContent}));
  const anomalyTable = document.querySelector('#anomalies + details table');
  const out = document.createElement('pre');
  out.id = 'hwbehave-measure';
  out.textContent = JSON.stringify({figures: figures, sections: sections, details: details,
                                    anomalyTable: anomalyTable ? box(anomalyTable) : null,
                                    page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]});
  document.body.appendChild(out);
})();
</script>
"""


def chromium_binary() -> str | None:
    """The first Chromium/Chrome on PATH, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser() -> str:
    """Chromium's path; a missing browser fails the test with how to install it."""
    path = chromium_binary()
    require("chromium not installed" if path is None else None, "apt-get install -y chromium")
    assert path is not None
    return path


def measure(html_path: Path, work: Path, width: int = 1280) -> dict:
    """Lay out ``html_path`` in headless Chromium at ``width`` CSS px; return the record (see module)."""
    page = work / "measured.html"
    text = html_path.read_text(encoding="utf-8")
    assert "<script" not in text  # the report has none; the probe below is the test's
    page.write_text(text.replace("</body>", SCRIPT + "</body>"), encoding="utf-8")
    cmd = [browser(), *FLAGS, f"--user-data-dir={work / 'profile'}", "--dump-dom", "--virtual-time-budget=10000",
           f"--window-size={width},1000", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="hwbehave-measure">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stdout[-2000:] + proc.stderr[-2000:]
    import html

    return json.loads(html.unescape(found.group(1)))


def overlap(a: list[float] | None, b: list[float] | None, tol: float = 0.5) -> bool:
    """Whether two boxes ``[left, top, right, bottom]`` intersect by more than ``tol`` px."""
    if a is None or b is None:
        return False
    return min(a[2], b[2]) - max(a[0], b[0]) > tol and min(a[3], b[3]) - max(a[1], b[1]) > tol


def inside(inner: list[float], outer: list[float], tol: float = 1.0) -> bool:
    """Whether ``inner`` lies within ``outer`` (``tol`` px of slack)."""
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol and inner[2] <= outer[2] + tol
            and inner[3] <= outer[3] + tol)


def data_x(fig: dict, px: float) -> float:
    """The data value at page x ``px`` of a figure's first axes, from its numeric x tick marks
    (a linear axis: the least-squares line through the ticks)."""
    import numpy as np

    ticks = [(float(t["text"].replace("−", "-")), t["x"]) for t in fig["xticks"]
             if re.fullmatch(r"[−-]?\d+(\.\d+)?", t["text"])]
    assert len(ticks) >= 2, fig["xticks"]
    values, pxs = np.array(ticks).T
    slope, intercept = np.polyfit(pxs, values, 1)
    return float(slope * px + intercept)
