"""``hwbehave findings RUN…``: the seven-findings table, one column per device."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.report.tables import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave findings`` and its arguments."""
    p = sub.add_parser("findings", help="the study's seven findings: a verdict per device with the key number")
    p.add_argument("runs", nargs="+", type=Path, help="run directories (or folders of them)")
    p.add_argument("--format", choices=FORMATS, default="md", help="output format (default md)")
    p.add_argument("--out", type=Path, help="write to this file instead of stdout")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave findings``; returns the exit status."""
    from suite.report import findings_as_table, findings_table, render_table
    from suite.report.run_analysis import analyse_runs

    analysis = analyse_runs(args.runs)
    text = render_table(findings_as_table(findings_table(analysis.measurements, analysis.anomalies)), args.format)
    if args.out:
        args.out.write_text(text)
        print(f"findings: {args.out}")
    else:
        print(text)
    return 0
