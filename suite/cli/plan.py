"""``hwbehave plan SWEEP``: expand a sweep and show what it would measure."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from suite.sweep.expand import load_sweep
from suite.sweep.point import changed_params


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave plan`` and its arguments."""
    p = sub.add_parser("plan", help="expand a sweep: point count, sample points, total MACs")
    p.add_argument("sweep", help="sweep YAML file")
    p.add_argument("--json", action="store_true", help="print one JSON object for tools")
    p.add_argument("--sample", type=int, default=8, help="how many points to show (default 8)")
    p.add_argument("--all", action="store_true", help="with --json: include every point")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave plan``; returns the exit status."""
    sweep = load_sweep(args.sweep)
    settings = sweep.round_settings()
    by_op: dict[str, int] = {}
    by_dtype: dict[str, int] = {}
    for p in sweep.points:
        by_op[p.op] = by_op.get(p.op, 0) + 1
        by_dtype[p.dtype] = by_dtype.get(p.dtype, 0) + 1
    step = max(1, len(sweep.points) // max(1, args.sample))
    sample = list(sweep.points)[::step][: args.sample]
    if args.json:
        shown = sweep.points if args.all else sample
        print(json.dumps({
            "sweep": sweep.name, "file": sweep.file, "points": len(sweep.points), "total_macs": sweep.total_macs,
            "total_flops": sum(p.flops for p in sweep.points), "by_op": by_op, "by_dtype": by_dtype,
            "rounds": settings.rounds, "confirm_s": settings.confirm_s, "sentinel_every": settings.sentinel_every,
            "measure": sweep.measure,
            "sample" if not args.all else "all": [
                {"id": p.id, "op": p.op, "dtype": p.dtype, "params": p.params, "macs": p.macs,
                 "bytes_total": p.bytes_total} for p in shown],
        }))
        return 0
    console = Console()
    console.print(f"[bold]{sweep.name}[/]: {len(sweep.points)} points, total {sweep.total_macs / 1e9:.3f} GMACs"
                  + f", {settings.rounds} rounds + up to {settings.confirm_s:g} s of confirmation")
    if sweep.description:
        console.print(sweep.description.strip())
    console.print("by op: " + ", ".join(f"{k} {v}" for k, v in by_op.items())
                  + " | by dtype: " + ", ".join(f"{k} {v}" for k, v in by_dtype.items()))
    table = Table(title=f"sample of {len(sample)} points")
    for col in ("id", "op", "dtype", "params", "MMACs", "KB moved"):
        table.add_column(col)
    for p in sample:
        table.add_row(p.id, p.op, p.dtype, changed_params(p.op, p.params), f"{p.macs / 1e6:.2f}", f"{p.bytes_total / 1024:.1f}")
    console.print(table)
    return 0
