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
           "`make run` (or `hwbehave run`), then point `HWBEHAVE_RESULTS` at it."),
    ("code", SETUP),
    ("md", "## Status of every point\nFailures are data: each non-ok status carries its error text."),
    ("code", 'status = df.groupby(["op", "dtype", "status"]).size().unstack(fill_value=0)\nstatus'),
    ("md", "## Latency against MACs\nIf FLOPs predicted latency, the points would lie on one line."),
    ("code", '''ok = df[df.status.isin(["ok", "fallback"])]
fig, ax = plt.subplots(figsize=(6, 4))
for dtype, g in ok.groupby("dtype"):
    ax.errorbar(g.macs / 1e6, g.median_ms, yerr=[g.median_ms - g.ci_low_ms, g.ci_high_ms - g.median_ms],
                fmt="o", ms=3, label=dtype)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("MMACs")
ax.set_ylabel("median latency (ms)")
ax.legend()
corr = ok[["macs", "median_ms"]].corr(method="spearman").iloc[0, 1]
print(f"Spearman rank correlation of MACs and latency: {corr:.2f}")'''),
    ("md", "## Latency along each swept axis"),
    ("code", '''conv = ok[(ok.op == "conv2d") & (ok.dtype == "fp32") & (ok.activation == "none") & (ok.kernel == 3)]
if len(conv) > 2:
    conv = conv.sort_values("cout")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(conv.cout, conv.median_ms, "o-", ms=3)
    ax.fill_between(conv.cout, conv.ci_low_ms, conv.ci_high_ms, alpha=0.3)
    ax.set_xlabel("output channels")
    ax.set_ylabel("median (ms)")
conv[["cout", "macs", "median_ms", "ci_low_ms", "ci_high_ms", "n", "unstable"]].head(20)'''),
    ("md", "## Anomalies, ranked by impact"),
    ("code", '''from suite.analysis import anomalies_to_frame, detect_all

anomalies = detect_all(df)
for a in anomalies[:10]:
    print(f"[{a.finding or '-'}] {a.kind}: {a.message}")
anomalies_to_frame(anomalies).head(20)'''),
]

CROSS_DEVICE = [
    ("md", "# Cross-device comparison\n\nThe same sweep on several devices: where do latency ranks flip, "
           "and which points changed significantly between two runs (Mann–Whitney U on the raw samples)?"),
    ("code", SETUP),
    ("md", "## Median latency per point and device"),
    ("code", '''ok = df[df.status.isin(["ok", "fallback"])]
wide = ok.pivot_table(index=["op", "dtype", "point_id"], columns="device", values="median_ms")
wide.head(20)'''),
    ("md", "## Ratio between devices"),
    ("code", '''devices = list(wide.columns)
if len(devices) >= 2:
    ratio = (wide[devices[1]] / wide[devices[0]]).rename(f"{devices[1]} / {devices[0]}")
    print(ratio.describe())
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(ratio.dropna(), bins=20)
    ax.set_xlabel(ratio.name)'''),
    ("md", "## Rank inversions across devices and against MACs"),
    ("code", '''from suite.analysis import detect_all

inversions = [a for a in detect_all(df, only=["rank_inversion"]) ]
for a in inversions[:10]:
    print(a.message)
print(f"{len(inversions)} inversion findings")'''),
    ("md", "## What changed between the first two runs"),
    ("code", '''from suite.report import compare_runs, significant_changes

if len(runs) >= 2:
    cmp = compare_runs(results.load(runs[0]), results.load(runs[1]))
    print(f"{len(cmp)} points compared; run-wide shift {cmp.attrs['shift']:+.1%}; "
          f"{len(significant_changes(cmp))} changed significantly beyond it")
    display_cols = ["config", "median_a_ms", "median_b_ms", "change_net", "ci_low", "ci_high", "q_value", "verdict"]
    cmp[display_cols].head(20)'''),
]

STUDY = [
    ("md", "# Reproducing the study's findings\n\nThe MLSys 2021 behaviour study found seven anomalies "
           "across edge platforms. This notebook lays the run(s) against them: a verdict per finding and "
           "device, then the tables behind the verdicts. Sweeps that reproduce each finding's design "
           "space are in `sweeps/study/` (each has a `-quick` variant)."),
    ("code", SETUP.replace("import matplotlib.pyplot as plt\n\n", "")),
    ("md", "## The seven findings, per device"),
    ("code", '''from suite.analysis import detect_all
from suite.report import findings_table, render_table, standard_tables

anomalies = detect_all(df)
findings = findings_table(df, anomalies)
findings'''),
    ("md", "## Publication tables (Markdown here; LaTeX with `hwbehave table --format latex`)"),
    ("code", '''for table in standard_tables(df):
    print(render_table(table, "md"))
    print()'''),
    ("md", "## F1: staircases along the channel axis"),
    ("code", '''steps = [a for a in anomalies if a.finding == "F1"]
for a in steps:
    print(a.message)
print(f"{len(steps)} staircase finding(s)")'''),
    ("md", "## F2 and F5: activation overhead and data-type speedup"),
    ("code", '''for a in anomalies:
    if a.finding in ("F2", "F5", "F6"):
        print(f"[{a.finding}] {a.message}")'''),
]


def main() -> None:
    for name, cells in (("01-quickstart-analysis", QUICKSTART), ("02-cross-device-comparison", CROSS_DEVICE),
                        ("03-study-findings", STUDY)):
        path = HERE / f"{name}.ipynb"
        nbf.write(notebook(cells), str(path))
        print(path)


if __name__ == "__main__":
    main()
