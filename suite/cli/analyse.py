"""``hwbehave analyse RUN… [--out FILE]``: run every detector, store and print anomalies ranked by impact."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

import suite.results as results
from suite.analysis import DETECTOR_NAMES, anomalies_to_frame, detect_all
from suite.analysis.uncertainty import UNRESOLVED
from suite.errors import ConfigError
from suite.results.query import find_runs

ANOMALIES = "anomalies.parquet"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave analyse`` and its arguments."""
    p = sub.add_parser("analyse", aliases=["analyze"], help="detect anomalies (the seven findings and more)")
    p.add_argument("runs", nargs="+", type=Path, help="run directories (or folders of them)")
    p.add_argument("--out", type=Path, help=f"anomalies file (default: RUN/{ANOMALIES} for one run)")
    p.add_argument("--only", action="append", choices=DETECTOR_NAMES, help="run only these detectors")
    p.add_argument("--limit", type=int, default=30, help="rows to print (default 30)")
    return p


def analyse_runs(paths: list[Path], only: list[str] | None = None) -> tuple[list, object, list[Path]]:
    """Load ``paths``, run the detectors; return anomalies, the measurements and the run dirs."""
    runs = find_runs(paths)
    df = results.load(runs)
    peaks = {}
    for m in results.query.manifests(runs):
        p = (m.get("device", {}).get("definition", {}) or {}).get("peaks") or {}
        if p.get("gflops") or p.get("gbps"):
            peaks[m["device_name"]] = {k: v for k, v in p.items() if v}
    return detect_all(df, peaks=peaks or None, only=only), df, runs


def default_out(runs: list[Path], out: Path | None, name: str) -> Path:
    """Where a command writes for ``runs``: ``out``, or inside the single run given."""
    if out is not None:
        return out
    if len(runs) != 1:
        raise ConfigError(f"several runs given: say where to write with --out (e.g. --out {name})",
                          field="--out", value=None, expected="a file path")
    return runs[0] / name


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave analyse``; returns the exit status."""
    anomalies, _, runs = analyse_runs(args.runs, args.only)
    out = default_out(runs, args.out, ANOMALIES)
    out.parent.mkdir(parents=True, exist_ok=True)
    anomalies_to_frame(anomalies).to_parquet(out, index=False)
    console = Console(highlight=False)
    unresolved = sum(a.verdict == UNRESOLVED for a in anomalies)
    console.print(f"[bold]{len(anomalies) - unresolved} anomalies in {len(runs)} run(s), ranked by impact; "
                  f"{unresolved} unresolved at this noise level[/]")
    for i, a in enumerate(anomalies[: args.limit], 1):
        tag = f"[{a.finding}] " if a.finding else ""
        state = " [dim]unresolved[/]" if a.verdict == UNRESOLVED else ""
        console.print(f"{i:>3}. {tag}{a.kind} on {a.device} (impact {a.magnitude:.2f}){state}", highlight=False)
        console.print(f"     {a.message}", soft_wrap=True)
    if len(anomalies) > args.limit:
        console.print(f"... {len(anomalies) - args.limit} more in {out}")
    console.print(f"anomalies: {out}")
    return 0
