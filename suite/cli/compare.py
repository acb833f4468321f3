"""``hwbehave compare RUN_A RUN_B``: per point change with a Mann–Whitney U test on raw samples."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.report.tables import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave compare`` and its arguments."""
    p = sub.add_parser("compare", help="what changed between two runs (Mann–Whitney U, BH-corrected)")
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--format", choices=FORMATS, default="md")
    p.add_argument("--all", action="store_true", help="list every point, not only significant changes")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave compare``; returns the exit status."""
    import suite.results as results
    from suite.report import compare_runs, comparison_table, render_table, significant_changes

    cmp = compare_runs(results.load(args.run_a), results.load(args.run_b))
    sig = significant_changes(cmp)
    shown = cmp if args.all else sig
    print(f"{len(cmp)} points in both runs, {len(sig)} changed significantly")
    if len(shown):
        print(render_table(comparison_table(shown), args.format))
    return 0
