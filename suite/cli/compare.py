"""``hwbehave compare RUN_A RUN_B``: what changed, with rounds as the unit and FDR control."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.errors import ConfigError
from suite.report.tables import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave compare`` and its arguments."""
    p = sub.add_parser("compare", help="what changed between two runs (rounds as the unit, FDR-controlled)")
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--format", choices=FORMATS, default="md",
                   help="md (default), latex, html, or csv (only the CSV on stdout, raw fractions)")
    p.add_argument("--all", action="store_true", help="list every point, not only significant changes")
    p.add_argument("--force", action="store_true",
                   help="compare runs whose protocol, runtime version, device or format differ")
    p.add_argument("--alpha", type=float, default=None, help="false discovery rate (default 0.05)")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave compare``; returns the exit status."""
    import suite.results as results
    from suite.report import render_table
    from suite.report.compare import (
        ALPHA,
        compare_runs,
        comparison_table,
        csv_frame,
        incomparable,
        significant_changes,
    )
    from suite.results.query import find_runs, manifests

    runs = [find_runs([p]) for p in (args.run_a, args.run_b)]
    for path, found in zip((args.run_a, args.run_b), runs, strict=True):
        if len(found) != 1:
            raise ConfigError("compare takes two run directories", field="run", value=str(path),
                              expected="a directory with manifest.json")
    ma, mb = (manifests(r)[0] for r in runs)
    differ = incomparable(ma, mb)
    if differ and not args.force:
        raise ConfigError("the runs are not comparable (" + "; ".join(differ) + ")", field="runs",
                          value=f"{args.run_a} {args.run_b}", expected="same protocol, runtime version, device and "
                                                                      "format, or --force")
    alpha = ALPHA if args.alpha is None else args.alpha
    cmp = compare_runs(results.load(runs[0]), results.load(runs[1]), alpha=alpha)
    if args.format == "csv":
        sys.stdout.write(csv_frame(cmp if args.all else significant_changes(cmp)).to_csv(index=False))
        return 0
    sig = significant_changes(cmp)
    unresolved = int((cmp["verdict"] == "unresolved").sum()) if len(cmp) else 0
    if differ:
        print("warning: comparing runs that differ (--force): " + "; ".join(differ))
    attrs = cmp.attrs
    print(f"{len(cmp)} points in both runs; run B vs A overall {100 * attrs.get('shift', float('nan')):+.1f}% "
          f"(95% {100 * attrs.get('shift_low', float('nan')):+.1f}% to {100 * attrs.get('shift_high', float('nan')):+.1f}%)"
          f"; {len(sig)} changed significantly beyond that (FDR {alpha:.0%}), {unresolved} unresolved")
    if len(sig) or (args.all and len(cmp)):
        print(render_table(comparison_table(cmp, every=args.all), args.format))
    return 0
