"""Regenerate the notebooks from this script (keeps them reviewable as code).

Run: ``.venv/bin/python notebooks/make_notebooks.py``. Each notebook reads the run
directories named by ``HWBEHAVE_RESULTS`` (os.pathsep-separated; default ``results/``)
through the public API only: ``suite.results`` for data, ``suite.analysis`` and
``suite.report`` for findings.
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

SETUP = '''import os
from pathlib import Path

import matplotlib.pyplot as plt

import suite.results as results

paths = [Path(p) for p in os.environ.get("HWBEHAVE_RESULTS", "results").split(os.pathsep) if p]
runs = results.query.find_runs(paths)
df = results.load(runs)
print(f"{len(runs)} run(s), {len(df)} measurements, devices: {sorted(df.device.unique())}")'''


def notebook(cells: list[tuple[str, str]]) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in cells:
        nb.cells.append(nbf.v4.new_markdown_cell(text) if kind == "md" else nbf.v4.new_code_cell(text))
    return nb


QUICKSTART = [
    ("md", "# Quickstart analysis\n\nWhat one run on one device says: the status of every point, "
           "latency against MACs, and the anomalies the detectors find. Produce a run with "
           "`make run` (or `hwbehave run`), then point `HWBEHAVE_RESULTS` at it (several runs and devices "
           "work too: every plot keeps them apart)."),
    ("code", SETUP),
    ("md", "## Status of every point\nFailures are data: each non-ok status carries its error text."),
    ("code", 'status = df.groupby(["device", "op", "dtype", "status"]).size().unstack(fill_value=0)\nstatus'),
    ("md", "## Latency against MACs\nIf MACs predicted latency, the points of one device would lie on one line."),
    ("code", '''ok = df[df.status.isin(["ok", "fallback"])]
fig, ax = plt.subplots(figsize=(7, 4.5))
for (device, dtype), g in ok.groupby(["device", "dtype"]):
    ax.errorbar(g.macs / 1e6, g.median_ms, yerr=[g.median_ms - g.ci_low_ms, g.ci_high_ms - g.median_ms],
                fmt="o", ms=3, label=f"{device} {dtype}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("MMACs")
ax.set_ylabel("median latency (ms, 95% CI)")
ax.set_title("Latency against MACs, per device and dtype")
ax.legend(fontsize=8)
for device, g in ok.groupby("device"):
    corr = g[["macs", "median_ms"]].corr(method="spearman").iloc[0, 1]
    print(f"{device}: Spearman rank correlation of MACs and latency {corr:.2f}")'''),
    ("md", "## Latency along the output channels\nOne line per device and run: points of different devices "
           "or runs are never joined into one line."),
    ("code", '''conv = ok[(ok.op == "conv2d") & (ok.dtype == "fp32") & (ok.activation == "none") & (ok.kernel == 3)]
axis_fig, ax = plt.subplots(figsize=(7, 4))
drawn = []
for (device, run_id), g in conv.groupby(["device", "run_id"]):
    if g.cout.nunique() < 3:
        continue
    g = g.sort_values("cout")
    (line,) = ax.plot(g.cout, g.median_ms, "o-", ms=3, label=f"{device} ({run_id})")
    ax.fill_between(g.cout, g.ci_low_ms, g.ci_high_ms, alpha=0.2, color=line.get_color())
    drawn.append(f"{device} ({run_id})")
ax.set_xlabel("output channels (cout)")
ax.set_ylabel("median latency (ms, 95% CI)")
ax.set_title("conv2d fp32 latency along cout")
if drawn:
    ax.legend(fontsize=8)
print(f"{len(drawn)} line(s), one per device and run: " + "; ".join(drawn))
conv[["device", "run_id", "cout", "macs", "median_ms", "ci_low_ms", "ci_high_ms", "rounds"]].sort_values(
    ["device", "run_id", "cout"]).head(20)'''),
    ("md", "## Anomalies, ranked by impact\nThe analysis `hwbehave analyse` runs (with the device peaks from "
           "the manifests); each anomaly's evidence names the runs it was seen in."),
    ("code", '''from suite.analysis import anomalies_to_frame
from suite.report.run_analysis import analyse_runs

anomalies = analyse_runs(paths).anomalies
for a in anomalies[:10]:
    print(f"[{a.finding or '-'}] {a.kind} ({a.verdict}): {a.message}")
anomalies_to_frame(anomalies).head(20)'''),
]

CROSS_DEVICE = [
    ("md", "# Cross-device comparison\n\nThe same sweep on several devices (any runtime: ONNX Runtime, "
           "LiteRT, OpenVINO, ...): how much faster or slower each point is on each device, where latency ranks "
           "flip, and which points changed between two runs of one device (`hwbehave compare`: rounds as the "
           "unit, the run-wide shift taken out, false discoveries controlled)."),
    ("code", SETUP),
    ("md", "## Median latency per point and device"),
    ("code", '''import numpy as np
from matplotlib.ticker import NullFormatter

ok = df[df.status.isin(["ok", "fallback"])]
wide = ok.pivot_table(index=["op", "dtype", "point_id"], columns="device", values="median_ms")
wide.head(20)'''),
    ("md", "## Latency ratio of every device against the first\nOne histogram per device on one log axis: "
           "left of 1 the device is faster than the reference on that point."),
    ("code", '''devices = list(wide.columns)
reference, others = devices[0], devices[1:]
ratios = {dev: (wide[dev] / wide[reference]).dropna() for dev in others}
ratios = {dev: r for dev, r in ratios.items() if len(r)}
hist_fig, ax = plt.subplots(figsize=(7, 4))
if ratios:
    values = np.concatenate([r.to_numpy() for r in ratios.values()])
    bins = np.geomspace(values.min() / 1.05, values.max() * 1.05, 30)
    for dev, r in ratios.items():
        ax.hist(r, bins=bins, alpha=0.5, label=f"{dev} ({len(r)} points, median {r.median():.2f}x)")
        print(f"{dev} / {reference}: median {r.median():.2f}x over {len(r)} points "
              f"(p10 {r.quantile(0.1):.2f}x, p90 {r.quantile(0.9):.2f}x)")
    ax.set_xscale("log")
    ticks = [t for t in (0.125, 0.25, 0.5, 0.75, 1, 1.5, 2, 4, 8, 16) if bins[0] <= t <= bins[-1]]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.legend(fontsize=8)
ax.set_title(f"Latency ratio per point against {reference}")
ax.set_xlabel(f"latency on the device / latency on {reference} (log scale)")
ax.set_ylabel("points")'''),
    ("md", "## Rank inversions across devices and against MACs"),
    ("code", '''from suite.report.run_analysis import analyse_runs

inversions = analyse_runs(paths, only=["rank_inversion"]).anomalies
for a in inversions[:10]:
    print(a.message)
print(f"{len(inversions)} inversion findings")'''),
    ("md", "## What changed between the first two runs of one device"),
    ("code", '''from suite.report import compare_runs, significant_changes

by_device = {}
for r in runs:
    by_device.setdefault(results.query.manifests(r)[0]["device_name"], []).append(r)
pairs = [rs[:2] for rs in by_device.values() if len(rs) >= 2]
if pairs:
    cmp = compare_runs(results.load(pairs[0][0]), results.load(pairs[0][1]))
    print(f"{len(cmp)} points compared; run-wide shift {cmp.attrs['shift']:+.1%}; "
          f"{len(significant_changes(cmp))} changed significantly beyond it")
    display_cols = ["config", "median_a_ms", "median_b_ms", "change_net", "ci_low", "ci_high", "q_value", "verdict"]
    display(cmp[display_cols].head(20))
else:
    print("no device has two runs here: nothing to compare")'''),
]

STUDY = [
    ("md", "# Reproducing the study's findings\n\nThe MLSys 2021 behaviour study found seven anomalies "
           "across edge platforms. This notebook lays the run(s) against them: a verdict per finding and "
           "device (yes, no, or unresolved at the run's noise level), then the tables behind the verdicts. "
           "Sweeps that reproduce each finding's design space are in `sweeps/study/` (each has a `-quick` "
           "variant)."),
    ("code", SETUP.replace("import matplotlib.pyplot as plt\n\n", "")),
    ("md", "## The seven findings, per device\nThe analysis of `hwbehave analyse` and `hwbehave findings`."),
    ("code", '''from suite.report import findings_table, render_table, standard_tables
from suite.report.run_analysis import analyse_runs

anomalies = analyse_runs(paths).anomalies
findings = findings_table(df, anomalies)
findings'''),
    ("md", "## Publication tables (Markdown here; LaTeX with `hwbehave table --format latex`)"),
    ("code", '''for table in standard_tables(df):
    print(render_table(table, "md"))
    print()'''),
    ("md", "## F1: staircases along the channel axis"),
    ("code", '''steps = [a for a in anomalies if a.finding == "F1"]
for a in steps:
    print(f"({a.verdict}) {a.message}")
print(f"{len(steps)} staircase finding(s)")'''),
    ("md", "## F2, F5 and F6: activation overhead, data-type speedup and output error"),
    ("code", '''for a in anomalies:
    if a.finding in ("F2", "F5", "F6"):
        print(f"[{a.finding}] ({a.verdict}) {a.message}")'''),
]


def main() -> None:
    for name, cells in (("01-quickstart-analysis", QUICKSTART), ("02-cross-device-comparison", CROSS_DEVICE),
                        ("03-study-findings", STUDY)):
        path = HERE / f"{name}.ipynb"
        nbf.write(notebook(cells), str(path))
        print(path)


if __name__ == "__main__":
    main()
