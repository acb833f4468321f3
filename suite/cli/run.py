"""``hwbehave run [SWEEP] [--device D] [--out DIR] [--seed N] [--resume]``: measure a sweep."""

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
from suite.devices.config import resolve_device
from suite.errors import ConfigError
from suite.models.cache import ArtifactCache
from suite.paths import check_out_dir, count_arg, seed_arg
from suite.pipeline import default_out_dir, latest_incomplete, run_sweep
from suite.results.store import MEASUREMENTS
from suite.sweep.expand import load_sweep
from suite.sweep.point import describe
from suite.sweep.schema import MAX_REPEAT

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
    p.add_argument("--repeat", type=count_arg(MAX_REPEAT), default=None,
                   help="rounds, each re-shuffled (default: the sweep's, else 1)")
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
                          "measurements to take" + (" (resuming)" if data["pending"] < data["total"] else ""))
            tasks["build"] = progress.add_task("build", total=data["pending"], failed=0, current="")
        elif event == "build":
            progress.update(tasks["build"], completed=data["index"], total=data["total"],
                            current=data["point"].label()[:60])
        elif event == "built":
            progress.update(tasks["build"], completed=data["total"], current="")
        elif event == "measure":
            tasks["measure"] = progress.add_task(f"measure r{data['round']}", total=data["total"], failed=0,
                                                 current="")
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

    try:
        with progress, _held(device, args.labgrid, console) as reachable:
            outcome = run_sweep(sweep, reachable, Path(out), seed=seed, repeat=args.repeat,
                                cache=ArtifactCache(args.cache) if args.cache else None, observer=observer,
                                device_path=args.device)
    except (KeyboardInterrupt, OSError):  # Ctrl-C, SIGTERM, a full disk: say how to continue, main() exits
        console.print(f"resume with: hwbehave run {args.sweep} --device {args.device} --out {out}", soft_wrap=True)
        raise
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


def print_summary(console: Console, run_dir: Path) -> None:
    """Per op/dtype: points ok and failed, and the median range."""
    import suite.results as results

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
