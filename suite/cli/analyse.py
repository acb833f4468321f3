"""``hwbehave analyse RUN… [--out FILE]``: run every detector, store and print anomalies ranked by impact."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from suite.analysis import DETECTOR_NAMES, Anomaly, anomalies_to_frame
from suite.analysis.uncertainty import UNRESOLVED
from suite.cli.progress import stdout_console
from suite.errors import ConfigError
from suite.report.run_analysis import analyse_runs

ANOMALIES = "anomalies.parquet"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave analyse`` and its arguments."""
    p = sub.add_parser("analyse", aliases=["analyze"], help="detect anomalies (the seven findings and more)")
    p.add_argument("runs", nargs="+", type=Path, help="run directories (or folders of them)")
    p.add_argument("--out", type=Path, help=f"anomalies file (default: {ANOMALIES} in the one run or folder given; "
                   "anomalies-NAME.parquet with --only)")
    p.add_argument("--only", action="append", choices=DETECTOR_NAMES, help="run only these detectors")
    p.add_argument("--limit", type=int, default=30, help="rows to print (default 30)")
    return p


def default_out(paths: list[Path], out: Path | None, only: list[str] | None = None) -> Path:
    """Where ``analyse`` writes: ``out``, else inside the one run or folder given.

    With ``--only`` the file is named after the detectors (``anomalies-staircase.parquet``), so a
    partial analysis never overwrites the full ``anomalies.parquet``.
    """
    if out is not None:
        return out
    name = f"anomalies-{'+'.join(dict.fromkeys(only))}.parquet" if only else ANOMALIES
    if len(paths) != 1:
        raise ConfigError(f"several runs or folders given: say where to write with --out (e.g. --out {name})",
                          field="--out", value=None, expected="a file path")
    return paths[0] / name


def _where(a: Anomaly) -> str:
    """``sweep s, run r`` (or ``runs r1, r2 +3``): where an anomaly was seen."""
    runs = a.evidence.get("runs") or []
    shown = ", ".join(runs[:2]) + (f" +{len(runs) - 2}" if len(runs) > 2 else "")
    return f"sweep {a.sweep or '?'}" + (f", run{'s' if len(runs) > 1 else ''} {shown}" if runs else "")


def grouped(anomalies: list[Anomaly]) -> list[list[Anomaly]]:
    """Anomalies that say the same thing about the same device (from several sweeps), one group
    each, in rank order of their first member."""
    groups: dict[tuple, list[Anomaly]] = {}
    for a in anomalies:
        key = (a.finding, a.kind, a.device, a.axis, a.at, a.verdict, a.message)
        groups.setdefault(key, []).append(a)
    return list(groups.values())


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave analyse``; returns the exit status."""
    out = default_out(args.runs, args.out, args.only)
    analysis = analyse_runs(args.runs, args.only)
    anomalies, runs = analysis.anomalies, analysis.runs
    out.parent.mkdir(parents=True, exist_ok=True)
    anomalies_to_frame(anomalies).to_parquet(out, index=False)
    console = stdout_console()
    unresolved = sum(a.verdict == UNRESOLVED for a in anomalies)
    console.print(f"[bold]{len(anomalies) - unresolved} anomalies in {len(runs)} run(s), ranked by impact; "
                  f"{unresolved} unresolved at this noise level[/]")
    if analysis.skipped:
        console.print(f"{len(analysis.skipped)} run(s) left out (written by a newer hwbehave)")
    groups = grouped(anomalies)
    for i, group in enumerate(groups[: args.limit], 1):
        a = group[0]
        tag = escape(f"[{a.finding}] ") if a.finding else ""
        state = " [dim]unresolved[/]" if a.verdict == UNRESOLVED else ""
        where = "; ".join(_where(g) for g in group)
        console.print(f"{i:>3}. {tag}{a.kind} on {escape(a.device)} (impact {a.magnitude:.2f}){state}")
        console.print(f"     {escape(a.message)}")
        console.print(f"     [dim]{'seen in' if len(group) > 1 else 'in'} {escape(where)}[/]")
    if len(groups) > args.limit:
        console.print(f"... {len(groups) - args.limit} more in {escape(str(out))}")
    console.print(f"anomalies: {escape(str(out))}")
    return 0
