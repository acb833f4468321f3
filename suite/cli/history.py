"""``hwbehave history DEVICE [--sweep S] [--root RESULTS] [--json]``: latency steps over time."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.table import Table

from suite.cli.progress import stdout_console
from suite.farm.history import device_history, point_label


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave history`` and its arguments."""
    p = sub.add_parser("history", help="steps in a device's latency over repeated runs, with what changed")
    p.add_argument("device", help="device name (as in the manifests)")
    p.add_argument("--sweep", default=None, help="only runs of this sweep (by name)")
    p.add_argument("--root", "--results", dest="root", type=Path, action="append", default=None,
                   help="results folder(s) to search (default results/)")
    p.add_argument("--json", action="store_true", help="print the steps as JSON lines")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave history``; returns the exit status."""
    roots = args.root or [Path("results")]
    histories, steps = device_history(roots, args.device, args.sweep)
    if args.json:
        for s in steps:
            print(json.dumps({**asdict(s), "direction": s.direction}, sort_keys=True, default=str))
        return 0
    console = stdout_console()
    runs = {r for h in histories for r in h.runs}
    console.print(f"{args.device}: {len(histories)} point(s) over {len(runs)} run(s); {len(steps)} step(s)")
    if not steps:
        return 0
    table = Table(title=f"steps over time on {args.device}")
    for col in ("sweep", "point", "before (ms)", "after (ms)", "change", "between", "what changed"):
        table.add_column(col, justify="right" if "ms" in col or col == "change" else "left")
    for s in sorted(steps, key=lambda s: -abs(s.change)):
        label = point_label(s.op, s.params, s.dtype)
        diff = "; ".join(f"{k}: {a} → {b}" for k, (a, b) in list(s.env_diff.items())[:4]) or "nothing recorded"
        table.add_row(s.sweep, label, f"{s.before_ms:.4f}", f"{s.after_ms:.4f}", f"{s.change:+.1%}",
                      f"{s.before_at[:19]} → {s.after_at[:19]}", diff)
    console.print(table)
    return 0
