"""``hwbehave report RUN… [--out DIR]``: self-contained HTML page and Markdown report."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave report`` and its arguments."""
    p = sub.add_parser("report", help="write report.html and report.md (plots, anomalies, support matrix)")
    p.add_argument("runs", nargs="+", type=Path, help="run directories (or folders of them)")
    p.add_argument("--out", type=Path,
                   help="output folder (default: report/ inside the one run or folder given, else ./report)")
    p.add_argument("--title", default=None, help="report title")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave report``; returns the exit status."""
    from suite.report import write_report
    from suite.report.run_analysis import analyse_runs

    analysis = analyse_runs(args.runs)
    out = args.out or (args.runs[0] / "report" if len(args.runs) == 1 else Path("report"))
    manifests = analysis.manifests
    title = args.title or ("hwbehave report: " + ", ".join(sorted({m["sweep"]["name"] for m in manifests})))
    paths = write_report(analysis.measurements, analysis.anomalies, out, manifests=manifests, title=title)
    print(f"report: {paths['html']}\nmarkdown: {paths['md']}")
    return 0
