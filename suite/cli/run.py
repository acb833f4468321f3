"""``hwbehave run [SWEEP] [--device D] [--out DIR] [--seed N] [--rounds R] [--confirm-s S] [--resume]``.

Measures a sweep in rounds (a fresh agent session each), with the run's noise floor from a
sentinel point and adaptive confirmation rounds, holding the device lock (shared with farms,
:mod:`suite.locks`) and the run directory's lock for the whole run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from suite import status as st
from suite.agent.protocol import RoundSettings
from suite.devices.config import resolve_device
from suite.errors import ConfigError
from suite.locks import DeviceLock, default_lock_dir
from suite.models.cache import ArtifactCache
from suite.paths import check_out_dir, count_arg, seed_arg
from suite.pipeline import default_out_dir, latest_incomplete, run_sweep
from suite.results.store import MEASUREMENTS
from suite.sweep.expand import load_sweep
from suite.sweep.point import describe
from suite.sweep.schema import MAX_ROUNDS, MAX_SECONDS

DEFAULT_SWEEP = "sweeps/quickstart.yaml"
DEFAULT_DEVICE = "devices/local-cpu.yaml"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave run`` and its arguments."""
    p = sub.add_parser("run", help="measure a sweep on a device and store the results")
    p.add_argument("sweep", nargs="?", default=DEFAULT_SWEEP, help=f"sweep YAML (default {DEFAULT_SWEEP})")
    p.add_argument("--device", default=DEFAULT_DEVICE, help=f"device YAML or name (default {DEFAULT_DEVICE})")
    p.add_argument("--out", type=Path, help="run directory (rerunning into it resumes)")
    p.add_argument("--results", type=Path, default=Path("results"), help="root for new run directories")
    p.add_argument("--seed", type=seed_arg, default=None,
                   help="execution-order seed, 0 … 2**63-1 (default: the sweep's, else 0)")
    p.add_argument("--rounds", type=count_arg(MAX_ROUNDS), default=None,
                   help=f"planned rounds, each re-shuffled in a fresh session, 1 … {MAX_ROUNDS} (default: the "
                        f"sweep's measure.rounds, else {RoundSettings().rounds})")
    p.add_argument("--confirm-s", type=float, default=None, metavar="S",
                   help="seconds of extra rounds for points whose rounds disagree (default: the sweep's "
                        f"measure.confirm_s, else {RoundSettings().confirm_s:g}; 0 turns confirmation off)")
    p.add_argument("--repeat", default=None, help=argparse.SUPPRESS)  # renamed to --rounds: a clear error
    p.add_argument("--resume", action="store_true",
                   help="continue the newest unfinished run of this sweep and device under --results")
    p.add_argument("--cache", type=Path, default=None, help="artifact cache (default ~/.cache/hwbehave)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--labgrid", default=None, metavar="HOST:PORT",
                   help="labgrid coordinator for a device that names a labgrid_place "
                        "(default $LG_COORDINATOR, else 127.0.0.1:20408)")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave run``; returns the exit status."""
    sweep = load_sweep(args.sweep)
    device = resolve_device(args.device)
    if args.repeat is not None:
        raise ConfigError("--repeat is now --rounds (rounds are the unit of replication: each is a fresh, "
                          f"re-shuffled session; default {RoundSettings().rounds})", field="--repeat",
                          value=args.repeat, expected=f"--rounds {args.repeat}")
    if args.confirm_s is not None and not 0 <= args.confirm_s <= MAX_SECONDS:
        raise ConfigError("--confirm-s must be a number of seconds", field="--confirm-s", value=args.confirm_s,
                          expected=f"0 … {MAX_SECONDS:g} (0: no confirmation rounds)")
    out = args.out
    if out is None and args.resume:
        out = latest_incomplete(args.results, sweep, device)
        if out is None:
            raise ConfigError("--resume found no unfinished run of this sweep and device", field="--resume",
                              value=str(args.results), expected="an earlier interrupted run, or use --out")
    if out is None:
        out = default_out_dir(args.results, sweep, device)
    check_out_dir(Path(out), "--out" if args.out is not None else "--results")
    seed = args.seed if args.seed is not None else (sweep.seed or 0)
    console = Console(stderr=True)
    failures = {"n": 0}
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TextColumn("eta"),
                        TimeRemainingColumn(), TextColumn("{task.fields[current]}"), console=console,
                        disable=args.quiet or not console.is_terminal, transient=False)
    tasks: dict[str, Any] = {}

    def observer(event: str, **data: Any) -> None:
        if event == "plan":
            console.print(f"run {data['run_id']} → {data['out_dir']}: {data['pending']} of {data['total']} "
                          f"measurements to take ({data['rounds']} rounds)"
                          + (" (resuming)" if data["pending"] < data["total"] else ""))
            tasks["build"] = progress.add_task("build", total=data["pending"], failed=0, current="")
        elif event == "build":
            progress.update(tasks["build"], completed=data["index"], total=data["total"],
                            current=data["point"].label()[:60])
        elif event == "built":
            progress.update(tasks["build"], completed=data["total"], current="")
        elif event == "measure":
            label = f"{'confirm' if data.get('phase') == 'confirm' else 'measure'} r{data['round']}"
            tasks["measure"] = progress.add_task(label, total=data["total"], failed=0, current="")
        elif event == "confirm":
            console.print(f"confirming {data['points']} of {data['candidates']} point(s) whose rounds disagree "
                          f"(round {data['round']}, {data['budget_left_s']:.0f} s of budget left)")
        elif event == "measured":
            m = data["measurement"]
            if m.status not in st.TIMED:
                failures["n"] += 1
            if "measure" in tasks:
                what = describe(m.op, m.params, m.dtype)
                text = f"{what}: {m.stats['median_ms']:.4f} ms" if m.stats else f"{what}: {m.status}"
                progress.update(tasks["measure"], advance=1, failed=failures["n"], current=text[-70:])
        elif event in ("device_lost", "device_error"):
            console.print(f"[red]{data['error']}[/]")

    lock = DeviceLock(default_lock_dir(), device.name, {"command": "hwbehave run", "out": str(out)})
    lock.acquire(wait=False)  # a farm or another run measuring this device: DeviceBusy, exit 75
    try:
        with progress, _held(device, args.labgrid, console) as reachable:
            outcome = run_sweep(sweep, reachable, Path(out), seed=seed, rounds=args.rounds, confirm_s=args.confirm_s,
                                cache=ArtifactCache(args.cache) if args.cache else None, observer=observer,
                                device_path=args.device)
    except (KeyboardInterrupt, OSError):  # Ctrl-C, SIGTERM, a full disk: say how to continue, main() exits
        console.print(f"resume with: hwbehave run {args.sweep} --device {args.device} --out {out}", soft_wrap=True)
        raise
    finally:
        lock.release()
    print_summary(console, Path(outcome.out_dir))
    console.print(f"results: {outcome.out_dir / MEASUREMENTS} (manifest.json beside it)")
    if not outcome.complete:
        console.print(f"[red]run interrupted[/]: {outcome.error}\nresume with: hwbehave run {args.sweep} "
                      f"--device {args.device} --out {outcome.out_dir}")
        return 3
    print(str(outcome.out_dir), file=sys.stdout)
    return 0


@contextmanager
def _held(device: Any, coordinator: str | None, console: Console) -> Iterator[Any]:
    """The device itself, or, for a ``labgrid_place`` device, the place acquired for the run."""
    if not getattr(device.transport, "labgrid_place", None):
        yield device
        return
    from suite.farm.labgrid import acquired_place

    address = coordinator or os.environ.get("LG_COORDINATOR") or "127.0.0.1:20408"
    console.print(f"acquiring labgrid place {device.transport.labgrid_place} via {address}")
    with acquired_place(device, address) as held:
        yield held


def resolution_lines(manifest: dict[str, Any]) -> list[str]:
    """What a run can resolve: rounds, its noise floor (sentinel) and the confirmation it did."""
    lines = []
    floor = manifest.get("noise_floor") or {}
    sentinel = floor.get("sentinel") or {}
    rounds = manifest.get("rounds", manifest.get("repeat"))
    if floor.get("rel") is not None:
        pct = 100.0 * float(floor["rel"])
        lines.append(f"noise floor {pct:.1f}%: effects below {pct:.1f}% are not resolved on this run "
                     f"({rounds} rounds; sentinel {sentinel.get('label', '?')}, "
                     f"{floor.get('measurements', len(floor.get('values_ms') or []))} measurements)")
    else:
        lines.append(f"noise floor: not measured on this run ({rounds} rounds, no timed sentinel measurement)")
    confirm = manifest.get("confirm") or {}
    if confirm:
        lines.append(f"confirmation: {len(confirm.get('points') or [])} point(s) in {confirm.get('rounds', 0)} extra "
                     f"round(s), {float(confirm.get('spent_s') or 0):.0f} s of {float(confirm.get('budget_s') or 0):.0f} s"
                     + (f" ({confirm['stopped']})" if confirm.get("stopped") else ""))
    return lines


def print_summary(console: Console, run_dir: Path) -> None:
    """Per op/dtype: points ok and failed, the median range; then the run's resolution."""
    import suite.results as results
    from suite.results.store import read_manifest

    df = results.load(run_dir)
    if df.empty:
        console.print("no measurements")
        return
    table = Table(title=f"summary of {run_dir.name}")
    for col in ("op", "dtype", "ok", "failed", "median min (ms)", "median max (ms)", "unstable"):
        table.add_column(col, justify="right" if col not in ("op", "dtype") else "left")
    for (op, dtype), g in df.groupby(["op", "dtype"], sort=True):
        ok = g[g["status"].isin(list(st.TIMED))]
        bad = g[~g["status"].isin(list(st.TIMED))]
        table.add_row(op, dtype, str(len(ok)), str(len(bad)) + (f" ({', '.join(sorted(set(bad['status'])))})"
                                                               if len(bad) else ""),
                      f"{ok['median_ms'].min():.4f}" if len(ok) else "-",
                      f"{ok['median_ms'].max():.4f}" if len(ok) else "-",
                      str(int(ok["unstable"].fillna(False).sum())) if len(ok) else "-")
    console.print(table)
    for line in resolution_lines(read_manifest(run_dir)):
        console.print(line)
