"""``hwbehave show RUN``: summary of a run directory (manifest, environment, per-op table, noise floor)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from suite.cli.progress import stdout_console
from suite.cli.run import print_summary
from suite.results.store import read_manifest


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave show`` and its arguments."""
    p = sub.add_parser("show", help="summarise a run directory")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON (with --point: the point's record)")
    p.add_argument("--point", metavar="ID|FILTER", default=None,
                   help="one point in detail: per-op profile and peak memory; a unique point or job id prefix, "
                        "or a filter such as cout=32,dtype=int8")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave show``; returns the exit status."""
    if args.point is not None:
        return show_point(args.run, args.point, as_json=args.json)
    m = read_manifest(args.run)
    if args.json:
        print(json.dumps(m, indent=2, sort_keys=True))
        return 0
    console = stdout_console()
    env = m.get("environment", {})
    agent = env.get("agent", {})
    console.print(f"[bold]run {m.get('run_id')}[/] ({m.get('status')}): sweep {m['sweep']['name']} "
                  f"({m['sweep']['points']} points) on {m.get('device_name')} [{m['device']['class']}]")
    console.print(f"runtime {m.get('runtime')} ({m.get('format')}), seed {m.get('seed')}, "
                  f"rounds {m.get('rounds', m.get('repeat'))}, hwbehave {m.get('suite_version')} @ {m.get('git_commit')}")
    if agent:
        console.print(f"device host {agent.get('hostname')}: {agent.get('cpu_model')} {agent.get('arch')}, "
                      f"Python {agent.get('python')}, runtimes {agent.get('runtimes')}")
    console.print("protocol: " + ", ".join(f"{k}={v}" for k, v in m.get("protocol", {}).items()))
    console.print("counts: " + ", ".join(f"{k} {v}" for k, v in (m.get("counts") or {}).items()))
    if m.get("journal_bad_lines"):
        console.print(f"[yellow]journal lines skipped: {m['journal_bad_lines']}[/]")
    print_summary(console, args.run)
    return 0


def show_point(run: Path, spec: str, *, as_json: bool = False) -> int:
    """``show RUN --point SPEC``: the point's facts, peak memory and per-op table (2 when ambiguous)."""
    import suite.results as results
    from suite.report.op_profile import no_profile_reason, op_table, point_facts, profile_of, select_points
    from suite.report.tables import to_markdown

    hits = select_points(results.load(run), spec)
    if len(hits) > 1:
        print(f"{len(hits)} points match {spec!r}; give a longer id prefix or more of the filter:")
        for _, row in hits.head(30).iterrows():
            print(f"  {row['point_id']}  {point_facts(row)[0][1].split(' ', 1)[1]}  {row.get('status')}")
        return 2
    row = hits.iloc[0]
    if as_json:
        record = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.drop(
            labels=[c for c in ("samples_ms",) if c in row.index]).items()}
        record["op_profile"] = profile_of(row)
        print(json.dumps(record, indent=2, sort_keys=True, default=str))
        return 0
    console = stdout_console()
    for label, value in point_facts(row):
        console.print(f"[bold]{label}[/]: {value}", highlight=False)
    table = op_table(row)
    if table is None:
        console.print(f"per-op profile: {no_profile_reason(row)}")
    else:
        console.print("")
        console.print(to_markdown(table), markup=False, highlight=False)
    return 0
