"""``hwbehave plan SWEEP [--adaptive [AXIS]]``: expand a sweep and show what it would measure."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from suite.agent.protocol import ProtocolSettings
from suite.cli.progress import stdout_console
from suite.locations import locate
from suite.sweep import adaptive as adapt
from suite.sweep.estimate import estimate_measuring
from suite.sweep.expand import load_sweep, summarise_sweep
from suite.sweep.point import changed_params


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave plan`` and its arguments."""
    p = sub.add_parser("plan", help="expand a sweep: point count, sample points, total MACs")
    p.add_argument("sweep", help="sweep YAML path or name (looked up in ./sweeps, the user folder, the bundled sweeps)")
    p.add_argument("--json", action="store_true", help="print one JSON object for tools")
    p.add_argument("--sample", type=int, default=8, help="how many points to show (default 8)")
    p.add_argument("--all", action="store_true", help="with --json: include every point")
    p.add_argument("--adaptive", nargs="?", const="", default=None, metavar="AXIS",
                   help="plan the run as hwbehave run --adaptive [AXIS] would: a coarse grid, then refinement")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave plan``; returns the exit status."""
    sweep_file = locate("sweeps", args.sweep, field="sweep")
    summary = None
    if args.adaptive is None and not args.all:  # counted in batches: no Point made but the sample's
        summary = summarise_sweep(sweep_file.path, sample=args.sample)
        sweep = summary.header
        if adapt.plan_from_sweep(sweep, None) is not None:  # an adaptive axis: its plan reads the points
            summary = None
    if summary is None:
        sweep = load_sweep(sweep_file.path)
    settings = sweep.round_settings()
    plan = adapt.plan_from_sweep(sweep, args.adaptive)
    adaptive = None
    if plan is not None:
        series, _ = adapt.series_of(sweep.points, plan.axis)
        coarse = len(adapt.coarse_points(sweep.points, plan))
        from suite.pipeline import default_min_rel

        adaptive = {"axis": plan.axis, "coarse": plan.coarse, "series": len(series), "coarse_points": coarse,
                    "max_points": len(sweep.points), "budget_s": plan.budget_s,
                    "min_rel": plan.min_rel if plan.min_rel is not None else default_min_rel()}
    if summary is not None:
        n_points, total_macs, total_flops = summary.points, summary.total_macs, summary.total_flops
        by_op, by_dtype, unknown, sample = summary.by_op, summary.by_dtype, summary.unknown_macs, list(summary.sample)
    else:
        n_points, total_macs = len(sweep.points), sweep.total_macs
        total_flops = sum(p.flops for p in sweep.points if p.flops is not None)
        by_op, by_dtype = {}, {}
        for p in sweep.points:
            by_op[p.op] = by_op.get(p.op, 0) + 1
            by_dtype[p.dtype] = by_dtype.get(p.dtype, 0) + 1
        unknown = sum(p.macs is None for p in sweep.points)
        step = max(1, n_points // max(1, args.sample))
        sample = list(sweep.points)[::step][: args.sample]
    protocol = ProtocolSettings.from_dict({**ProtocolSettings().to_dict(), **sweep.measure})
    estimate = estimate_measuring(n_points, settings.rounds, protocol,
                                  sentinel_every=settings.sentinel_every, confirm_s=settings.confirm_s)
    first = estimate if adaptive is None else estimate_measuring(
        adaptive["coarse_points"], settings.rounds, protocol, sentinel_every=settings.sentinel_every, confirm_s=0)
    if args.json:
        shown = sweep.points if args.all else sample
        print(json.dumps({
            "sweep": sweep.name, "file": sweep.file, "points": n_points, "total_macs": total_macs,
            "total_flops": total_flops, "by_op": by_op,
            "by_dtype": by_dtype, "rounds": settings.rounds, "confirm_s": settings.confirm_s,
            "sentinel_every": settings.sentinel_every, "measure": sweep.measure, "adaptive": adaptive,
            "estimate_s": {"at_least": round(estimate.at_least_s, 1), "at_most": round(estimate.at_most_s, 1),
                           "note": "an estimate from the protocol (suite/sweep/estimate.py), not a measurement"},
            "sample" if not args.all else "all": [
                {"id": p.id, "op": p.op, "dtype": p.dtype, "params": p.params, "macs": p.macs,
                 "bytes_total": p.bytes_total} for p in shown],
        }))
        return 0
    console = stdout_console()
    console.print(f"sweep: {sweep_file.describe()}", soft_wrap=True)
    console.print(f"[bold]{sweep.name}[/]: {n_points} points, total {total_macs / 1e9:.3f} GMACs"
                  + f", {settings.rounds} rounds + up to {settings.confirm_s:g} s of confirmation")
    if sweep.description:
        console.print(sweep.description.strip())
    if adaptive is not None:
        budget = f"; refinement budget {adaptive['budget_s']:g} s" if adaptive["budget_s"] is not None else ""
        console.print(f"adaptive along {plan.axis}: {adaptive['coarse_points']} point(s) first (a coarse grid of "
                      f"{plan.coarse} per series, {adaptive['series']} series, and the points outside them), then "
                      f"refinement where neighbours differ by more than the run's noise floor or "
                      f"{100 * adaptive['min_rel']:g}%: at most "
                      f"{adaptive['max_points']} points (the dense grid){budget}", highlight=False)
        console.print("coarse grid: " + first.text(), highlight=False)
        console.print("dense grid (the most an adaptive run measures, before confirmation): " + estimate.text(),
                      highlight=False)
    else:
        console.print(estimate.text())
    if unknown:
        console.print(f"{unknown} point(s) with unknown MACs (a model file whose shapes are not static); "
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
