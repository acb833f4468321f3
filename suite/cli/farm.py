"""``hwbehave farm {run,plan,status,sustain}``: sweeps × devices in parallel, for schedulers.

Exit codes of ``farm run`` (see docs/farm.md): 0 all done, 1 a task failed or a device is
quarantined, 2 configuration error, 3 interrupted or incomplete (rerun the same instance),
75 a device was busy (``--no-wait``; try again later).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from suite.cli.progress import stdout_console
from suite.devices.config import resolve_device
from suite.errors import ConfigError
from suite.farm.config import EXIT_BUSY, describe, load_farm
from suite.farm.runner import SUMMARY, FarmRunner, default_instance, summary_rows
from suite.models.cache import ArtifactCache
from suite.paths import check_segment


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave farm`` and its arguments."""
    p = sub.add_parser("farm", help="run farms of sweeps × devices in parallel (cron/systemd friendly)")
    fs = p.add_subparsers(dest="farm_command", metavar="FARM_COMMAND")
    fs.required = True

    r = fs.add_parser("run", help="run (or resume) one farm instance")
    r.add_argument("farm", help="farm YAML")
    r.add_argument("--instance", default=None, help="instance id (default: today's UTC date); rerun to resume")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--wait", dest="wait", action="store_true", default=True,
                   help="wait for devices another run holds (default)")
    g.add_argument("--no-wait", dest="wait", action="store_false",
                   help="skip a busy device and exit 75 (EX_TEMPFAIL) instead of waiting")
    r.add_argument("--lock-timeout", type=float, default=None, metavar="S", help="give up waiting after S seconds")
    r.add_argument("--device", action="append", default=None, help="only this device (repeatable)")
    r.add_argument("--clear-quarantine", action="store_true", help="retry devices quarantined in this instance")
    r.add_argument("--quiet", action="store_true", help="no per-task lines")

    pl = fs.add_parser("plan", help="show which jobs run on which device")
    pl.add_argument("farm")

    s = fs.add_parser("status", help="print the summary of an instance")
    s.add_argument("farm")
    s.add_argument("--instance", default=None)

    su = fs.add_parser("sustain", help="time one point for minutes (latency vs time)")
    su.add_argument("--device", required=True, help="device YAML or name")
    su.add_argument("--op", required=True, help="operator name, e.g. conv2d")
    su.add_argument("--param", action="append", default=[], metavar="K=V",
                    help="operator parameter (repeatable), e.g. --param cin=32")
    su.add_argument("--dtype", default="fp32")
    su.add_argument("--minutes", type=float, required=True)
    su.add_argument("--window-s", type=float, default=1.0, help="seconds per window (one point of the curve)")
    su.add_argument("--chunk-s", type=float, default=30.0, help="seconds per agent batch (env read at each end)")
    su.add_argument("--out", type=Path, default=None, help="output folder (default results/sustain/...)")
    su.add_argument("--cache", type=Path, default=None)
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave farm``; returns the exit status."""
    return {"run": _run, "plan": _plan, "status": _status, "sustain": _sustain}[args.farm_command](args)


def _run(args: argparse.Namespace) -> int:
    farm = load_farm(args.farm)
    console = Console(stderr=True)
    stop = threading.Event()

    def observer(event: str, **data: Any) -> None:
        if args.quiet and event not in ("device_busy", "device_quarantined", "device_failed"):
            return
        dev = escape(f"[{data.get('device', '')}]")
        if event == "task_start":
            console.print(f"{dev} {data['job']}: start (attempt {data['attempt']})")
        elif event == "task_retry":
            console.print(f"[yellow]{dev} {data['job']}: {data['error'][:200]}; retry in {data['delay_s']:.0f} s[/]")
        elif event == "task_done":
            res = data["result"]
            console.print(f"{dev} {res.job}: {res.status} ({res.measured} measured, {res.seconds:.1f} s)"
                          + (f" — {res.reason[:200]}" if res.reason else ""))
        elif event == "task_skipped":
            console.print(f"{dev} {data['job']}: {data['reason']}")
        elif event in ("device_busy", "device_quarantined", "device_failed"):
            console.print(f"[red]{dev} {event.split('_', 1)[1]}: {data['reason'][:300]}[/]")

    def on_term(signum: int, frame: Any) -> None:
        console.print("[yellow]farm: stop requested; finishing the points in flight[/]")
        stop.set()

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        runner = FarmRunner(farm, args.instance, wait=args.wait, lock_timeout_s=args.lock_timeout,
                            clear_quarantine=args.clear_quarantine, observer=observer, stop=stop, devices=args.device)
        console.print(f"farm {farm.name}, instance {runner.instance}: {len(runner.device_names)} device(s), "
                      f"results under {runner.root}")
        outcome = runner.run()
    finally:
        signal.signal(signal.SIGTERM, old)
    print_table(stdout_console(), outcome.devices, f"farm {farm.name} — instance {outcome.instance} "
                f"({outcome.seconds:.1f} s)")
    console.print(f"summary: {outcome.summary_path}")
    if stop.is_set() and outcome.exit_code == 0:
        return 3
    if outcome.exit_code == EXIT_BUSY:
        console.print("a device was busy: try again later (exit 75)")
    return outcome.exit_code


def print_table(console: Console, devices: dict[str, Any], title: str) -> None:
    """The farm summary table: one row per device."""
    table = Table(title=title)
    for col in ("device", "status", "done", "failed", "skipped", "measured", "points failed", "time (s)", "why"):
        table.add_column(col, justify="right" if col not in ("device", "status", "why") else "left")
    for row in summary_rows(devices):
        table.add_row(row["device"], row["status"], str(row["done"]), str(row["failed"]), str(row["skipped"]),
                      str(row["measured"]), str(row["points_failed"]), f"{row['seconds']:.1f}", row["reason"][:120])
    console.print(table)


def _plan(args: argparse.Namespace) -> int:
    farm = load_farm(args.farm)
    print(yaml.safe_dump(describe(farm), sort_keys=False), end="")
    return 0


def _status(args: argparse.Namespace) -> int:
    farm = load_farm(args.farm)
    instance = check_segment(args.instance, "--instance") if args.instance else default_instance()
    path = farm.results_root / instance / SUMMARY
    if not path.exists():
        raise ConfigError("no summary for this instance yet", field="--instance", value=instance,
                          expected=f"a farm run that wrote {path}")
    summary = json.loads(path.read_text())
    print_table(stdout_console(), summary["devices"], f"farm {farm.name} — instance {instance}")
    return int(summary.get("exit_code", 0))


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError("a parameter is KEY=VALUE", field="--param", value=item, expected="e.g. cin=32")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def _sustain(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from suite.farm.sustain import point_for, run_sustain

    device = resolve_device(args.device)
    point = point_for(args.op, _parse_params(args.param), args.dtype)
    out = args.out or Path("results") / "sustain" / (
        f"{device.name}--{point.op}-{point.id[:8]}--{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}")
    console = Console(stderr=True)
    outcome = run_sustain(device, point, out, minutes=args.minutes, window_s=args.window_s, chunk_s=args.chunk_s,
                          cache=ArtifactCache(args.cache) if args.cache else None,
                          observer=lambda ev, **d: console.print(
                              f"batch {d['batch']}: {d['windows']} windows, {d['elapsed_s']:.0f} s"))
    console.print(f"{outcome.windows} windows, {outcome.samples} samples; median first "
                  f"{outcome.first_median_ms} ms, last {outcome.last_median_ms} ms")
    print(str(outcome.out_dir))
    return 0
