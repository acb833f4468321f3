"""``hwbehave plan SWEEP``: expand a sweep and show what it would measure."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from suite.agent.protocol import ProtocolSettings
from suite.cli.progress import stdout_console
from suite.locations import locate
from suite.sweep.estimate import estimate_measuring
from suite.sweep.expand import load_sweep
from suite.sweep.point import changed_params


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave plan`` and its arguments."""
    p = sub.add_parser("plan", help="expand a sweep: point count, sample points, total MACs")
    p.add_argument("sweep", help="sweep YAML path or name (looked up in ./sweeps, the user folder, the bundled sweeps)")
    p.add_argument("--json", action="store_true", help="print one JSON object for tools")
    p.add_argument("--sample", type=int, default=8, help="how many points to show (default 8)")
    p.add_argument("--all", action="store_true", help="with --json: include every point")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave plan``; returns the exit status."""
    sweep_file = locate("sweeps", args.sweep, field="sweep")
    sweep = load_sweep(sweep_file.path)
    settings = sweep.round_settings()
    by_op: dict[str, int] = {}
    by_dtype: dict[str, int] = {}
    for p in sweep.points:
        by_op[p.op] = by_op.get(p.op, 0) + 1
        by_dtype[p.dtype] = by_dtype.get(p.dtype, 0) + 1
    protocol = ProtocolSettings.from_dict({**ProtocolSettings().to_dict(), **sweep.measure})
    estimate = estimate_measuring(len(sweep.points), settings.rounds, protocol,
                                  sentinel_every=settings.sentinel_every, confirm_s=settings.confirm_s)
    step = max(1, len(sweep.points) // max(1, args.sample))
    sample = list(sweep.points)[::step][: args.sample]
    if args.json:
        shown = sweep.points if args.all else sample
        print(json.dumps({
            "sweep": sweep.name, "file": sweep.file, "points": len(sweep.points), "total_macs": sweep.total_macs,
            "total_flops": sum(p.flops for p in sweep.points if p.flops is not None), "by_op": by_op,
            "by_dtype": by_dtype, "rounds": settings.rounds, "confirm_s": settings.confirm_s,
            "sentinel_every": settings.sentinel_every, "measure": sweep.measure,
            "estimate_s": {"at_least": round(estimate.at_least_s, 1), "at_most": round(estimate.at_most_s, 1),
                           "note": "an estimate from the protocol (suite/sweep/estimate.py), not a measurement"},
            "sample" if not args.all else "all": [
                {"id": p.id, "op": p.op, "dtype": p.dtype, "params": p.params, "macs": p.macs,
                 "bytes_total": p.bytes_total} for p in shown],
        }))
        return 0
    console = stdout_console()
    console.print(f"sweep: {sweep_file.describe()}", soft_wrap=True)
    console.print(f"[bold]{sweep.name}[/]: {len(sweep.points)} points, total {sweep.total_macs / 1e9:.3f} GMACs"
                  + f", {settings.rounds} rounds + up to {settings.confirm_s:g} s of confirmation")
    if sweep.description:
        console.print(sweep.description.strip())
    console.print(estimate.text())
    unknown = [p for p in sweep.points if p.macs is None]
    if unknown:
        console.print(f"{len(unknown)} point(s) with unknown MACs (a model file whose shapes are not static); "
                      "totals leave them out")
    console.print("by op: " + ", ".join(f"{k} {v}" for k, v in by_op.items())
                  + " | by dtype: " + ", ".join(f"{k} {v}" for k, v in by_dtype.items()))
    table = Table(title=f"sample of {len(sample)} points")
    for col in ("id", "op", "dtype", "params", "MMACs", "KB moved"):
        table.add_column(col)
    for p in sample:
        table.add_row(p.id, p.op, p.dtype, changed_params(p.op, p.params), f"{p.macs / 1e6:.2f}" if p.macs is not None else "unknown", f"{p.bytes_total / 1024:.1f}")
    console.print(table)
    return 0
