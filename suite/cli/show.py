"""``hwbehave show RUN``: summary of a run directory (manifest, environment, per-op table, noise floor)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from suite.cli.run import print_summary
from suite.results.store import read_manifest


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave show`` and its arguments."""
    p = sub.add_parser("show", help="summarise a run directory")
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave show``; returns the exit status."""
    m = read_manifest(args.run)
    if args.json:
        print(json.dumps(m, indent=2, sort_keys=True))
        return 0
    console = Console()
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
