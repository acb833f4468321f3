"""``hwbehave run [SWEEP] [--device D] [--out DIR] [--seed N] [--rounds R] [--confirm-s S] [--adaptive [AXIS]]
[--adaptive-s S] [--resume]``.

Measures a sweep in rounds (a fresh agent session each), with the run's noise floor from a
sentinel point and adaptive confirmation rounds, holding the device lock (shared with farms,
:mod:`suite.locks`) and the run directory's lock for the whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from suite import status as st
from suite.agent.protocol import RoundSettings
from suite.cli.progress import RunProgress, run_console
from suite.devices.config import load_device
from suite.errors import ConfigError
from suite.locations import Located, locate
from suite.locks import DeviceLock, default_lock_dir
from suite.models.cache import ArtifactCache
from suite.paths import check_out_dir, count_arg, seed_arg
from suite.pipeline import default_out_dir, latest_incomplete, run_sweep
from suite.results.store import MEASUREMENTS
from suite.sweep.adaptive import AdaptivePlan, plan_from_sweep
from suite.sweep.expand import Sweep, load_sweep
from suite.sweep.schema import MAX_ROUNDS, MAX_SECONDS

#: Names, looked up in the working directory, the user folder, then the bundled set (suite.locations).
DEFAULT_SWEEP = "quickstart"
DEFAULT_DEVICE = "local-cpu"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave run`` and its arguments."""
    p = sub.add_parser("run", help="measure a sweep on a device and store the results")
    p.add_argument("sweep", nargs="?", default=DEFAULT_SWEEP,
                   help=f"sweep YAML path or name (default {DEFAULT_SWEEP}; names are looked up in ./sweeps, "
                        "$HWBEHAVE_HOME/sweeps or ~/.config/hwbehave/sweeps, then the bundled sweeps)")
    p.add_argument("--device", default=DEFAULT_DEVICE,
                   help=f"device YAML path or name (default {DEFAULT_DEVICE}; looked up like sweeps, in devices/)")
    p.add_argument("--model", type=Path, default=None, metavar="FILE",
                   help="measure this model file (.onnx, .tflite or OpenVINO .xml) instead of a sweep")
    p.add_argument("--dtype", default=None, metavar="D[,D…]",
                   help="with --model: the dtypes to measure, e.g. fp32,fp16,int8 (default: the file's own; "
                        "variants are derived where the format allows)")
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
    p.add_argument("--adaptive", nargs="?", const="", default=None, metavar="AXIS",
                   help="measure a coarse grid of AXIS (default: the sweep's only numeric axis), then bisect only "
                        "where neighbouring points differ by more than the run's noise floor (a sweep file can "
                        "write the axis as {adaptive: [lo, hi], step: s, coarse: k})")
    p.add_argument("--adaptive-s", type=float, default=None, metavar="S",
                   help="seconds of measuring for the adaptive refinement (default: the axis's budget_s, else no "
                        "bound: it ends when every change is located to one grid unit)")
    p.add_argument("--repeat", default=None, help=argparse.SUPPRESS)  # renamed to --rounds: a clear error
    over = p.add_argument_group("protocol and runtime overrides (win over the sweep and the device file; "
                                "recorded in the manifest under 'overrides')")
    over.add_argument("--threads", type=int, default=None, metavar="N", help="inference threads (runtime.threads)")
    over.add_argument("--warmup", type=int, default=None, metavar="N", help="warm-up runs (protocol warmup_runs)")
    over.add_argument("--min-runs", type=int, default=None, metavar="N", help="at least N timed samples (min_runs)")
    over.add_argument("--min-s", type=float, default=None, metavar="S", help="at least S seconds of samples (min_s)")
    over.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                      help="per-op profile of every point, from a separate pass after timing (runtime option "
                           "profile; default: on with --model, else the device file's)")
    p.add_argument("--resume", action="store_true",
                   help="insist on continuing the newest unfinished run of this sweep, device and settings under "
                        "--results (a plain rerun does so too; --resume fails when there is none)")
    p.add_argument("--new-run", action="store_true",
                   help="start a fresh run directory even when an unfinished run with the same settings exists")
    p.add_argument("--cache", type=Path, default=None, help="artifact cache (default ~/.cache/hwbehave)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (and no periodic progress lines when stderr is not a terminal)")
    p.add_argument("--labgrid", default=None, metavar="HOST:PORT",
                   help="labgrid coordinator for a device that names a labgrid_place "
                        "(default $LG_COORDINATOR, else 127.0.0.1:20408)")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave run``; returns the exit status."""
    device_file = locate("devices", args.device, field="--device")
    if args.model is not None:
        if args.sweep != DEFAULT_SWEEP:
            raise ConfigError("give a sweep or --model, not both", field="--model", value=str(args.model),
                              expected=f"either a sweep ({args.sweep}) or a model file")
        sweep_file, sweep = model_sweep(args.model, args.dtype)
    else:
        if args.dtype is not None:
            raise ConfigError("--dtype goes with --model (a sweep file lists its dtypes)", field="--dtype",
                              value=args.dtype, expected="--model FILE --dtype ...")
        sweep_file = locate("sweeps", args.sweep, field="sweep")
        sweep = load_sweep(sweep_file.path)
    device = load_device(device_file.path)
    if args.repeat is not None:
        raise ConfigError("--repeat is now --rounds (rounds are the unit of replication: each is a fresh, "
                          f"re-shuffled session; default {RoundSettings().rounds})", field="--repeat",
                          value=args.repeat, expected=f"--rounds {args.repeat}")
    if args.confirm_s is not None and not 0 <= args.confirm_s <= MAX_SECONDS:
        raise ConfigError("--confirm-s must be a number of seconds", field="--confirm-s", value=args.confirm_s,
                          expected=f"0 … {MAX_SECONDS:g} (0: no confirmation rounds)")
    sweep, device, overrides = apply_overrides(args, sweep, device, device_file)
    adaptive = adaptive_plan(sweep, args.adaptive, args.adaptive_s)
    seed = args.seed if args.seed is not None else (sweep.seed or 0)
    console = run_console()
    console.print(f"sweep: {sweep_file.describe()}", highlight=False)
    console.print(f"device: {device_file.describe()}", highlight=False)
    settings = run_settings(sweep, device, seed, args.rounds, overrides, adaptive)
    out = args.out
    if out is None and not args.new_run:
        # a plain rerun (or --resume) continues the newest unfinished run with the same settings
        out = latest_incomplete(args.results, sweep, device, settings)
        if out is not None:
            console.print(f"resuming the unfinished run {out} (same sweep, device and settings; "
                          "--new-run starts a fresh one)", highlight=False)
        elif args.resume:
            raise ConfigError("--resume found no unfinished run of this sweep, device and settings",
                              field="--resume", value=str(args.results),
                              expected="an earlier interrupted run with the same settings, or use --out")
    if out is None:
        out = default_out_dir(args.results, sweep, device)
    check_out_dir(Path(out), "--out" if args.out is not None else "--results")
    what = f"--model {args.model}" if args.model is not None else args.sweep
    resume_hint = (("rerun the same command to continue: it resumes the newest unfinished run of this sweep, "
                    f"device and settings ({out})" if args.out is None else
                    f"rerun the same command to continue the run in {out}")
                   + f"\nresume with: hwbehave run {what} --device {args.device} --out {out}")
    lock = DeviceLock(default_lock_dir(), device.name, {"command": "hwbehave run", "out": str(out)})
    lock.acquire(wait=False)  # a farm or another run measuring this device: DeviceBusy, exit 75
    try:
        with RunProgress(console, quiet=args.quiet) as observer, _held(device, args.labgrid, console) as reachable:
            outcome = run_sweep(sweep, reachable, Path(out), seed=seed, rounds=args.rounds, confirm_s=args.confirm_s,
                                cache=ArtifactCache(args.cache) if args.cache else None, observer=observer,
                                device_path=str(device_file.path), overrides=overrides, adaptive=adaptive)
    except (KeyboardInterrupt, OSError):  # Ctrl-C, SIGTERM, a full disk: say how to continue, main() exits
        console.print(resume_hint, highlight=False)
        raise
    finally:
        lock.release()
    print_summary(console, Path(outcome.out_dir))
    console.print(f"results: {outcome.out_dir / MEASUREMENTS} (manifest.json beside it)", highlight=False)
    if not outcome.complete:
        console.print(f"[red]run interrupted[/]: {outcome.error}", highlight=False)
        console.print(resume_hint, highlight=False)
        return 3
    print(str(outcome.out_dir), file=sys.stdout)
    return 0


#: Command-line overrides → (protocol setting or runtime field, smallest value).
OVERRIDES = {"threads": ("runtime.threads", 1), "warmup": ("warmup_runs", 0), "min_runs": ("min_runs", 1),
             "min_s": ("min_s", 0.0)}


def adaptive_plan(sweep: Sweep, axis: str | None, budget_s: float | None) -> AdaptivePlan | None:
    """The run's adaptive plan from the sweep and ``--adaptive [AXIS]`` / ``--adaptive-s S``."""
    if budget_s is not None and not 0 <= budget_s <= MAX_SECONDS:
        raise ConfigError("--adaptive-s must be a number of seconds", field="--adaptive-s", value=budget_s,
                          expected=f"0 … {MAX_SECONDS:g}")
    plan = plan_from_sweep(sweep, axis, budget_s=budget_s)
    if plan is None and budget_s is not None:
        raise ConfigError("--adaptive-s goes with an adaptive sweep", field="--adaptive-s", value=budget_s,
                          expected="--adaptive [AXIS], or a sweep with an {adaptive: [lo, hi]} axis")
    return plan


def run_settings(sweep: Sweep, device: Any, seed: int, rounds: int | None, overrides: dict[str, Any],
                 adaptive: AdaptivePlan | None = None) -> dict[str, Any]:
    """The manifest values a rerun must share with a run to resume it (besides sweep and device)."""
    from suite.pipeline import protocol_for

    planned = sweep.round_settings(rounds=rounds)
    return {"seed": seed, "rounds": planned.rounds, "sentinel_every": planned.sentinel_every,
            "adaptive": adaptive.to_dict() if adaptive is not None else None,
            "protocol": protocol_for(sweep, device).to_dict(), "overrides": overrides,
            "runtime": json.loads(device.runtime.model_dump_json(by_alias=True))}


def apply_overrides(args: argparse.Namespace, sweep: Sweep, device: Any, device_file: Located
                    ) -> tuple[Sweep, Any, dict[str, Any]]:
    """The sweep and device with ``--threads/--warmup/--min-runs/--min-s`` applied, and what was applied.

    Protocol values go over the sweep's and the device's ``measure:`` (precedence: defaults <
    device timeouts < sweep < device ``measure:`` < command line); ``--threads`` over the device's ``runtime.threads``. An impossible
    combination (more threads than the CPUs of the device's affinity, a minimum above the
    maximum it must fit) is a ``ConfigError`` naming the flag and where the other value is set.
    """
    import dataclasses

    from suite.agent.protocol import ProtocolSettings
    from suite.devices.config import check_threads_fit
    from suite.pipeline import protocol_for

    given = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k, None) is not None}
    profile = getattr(args, "profile", None)
    if profile is None and getattr(args, "model", None) is not None:
        profile = True  # an own model: per-op times, as benchmark_model and benchmark_app users expect
    for key, value in given.items():
        target, least = OVERRIDES[key]
        if not value >= least:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"{flag} must be at least {least}", field=flag, value=value, expected=f">= {least}")
    applied = {"--" + k.replace("_", "-"): v for k, v in given.items()}
    if "threads" in given:
        check_threads_fit(given["threads"], device.runtime.affinity, field="--threads",
                          where=f"runtime.affinity in {_line_of(device_file.path, ('runtime', 'affinity'))}")
        device = device.model_copy(update={"runtime": device.runtime.model_copy(update={"threads": given["threads"]})})
    if profile is not None:
        options = {**device.runtime.options, "profile": bool(profile)}
        device = device.model_copy(update={"runtime": device.runtime.model_copy(update={"options": options})})
        applied["--profile" if profile else "--no-profile"] = True
    protocol = {OVERRIDES[k][0]: v for k, v in given.items() if k != "threads"}
    if protocol:
        base = protocol_for(sweep, device).to_dict()
        merged = {**base, **protocol}
        for low, high in (("min_runs", "max_runs"), ("min_s", "max_s")):
            if low in protocol and merged[low] > merged[high]:
                origin = (f"the device's measure.{high} ({device_file.path})" if high in device.measure
                          else f"the sweep's measure.{high} ({sweep.file})" if high in sweep.measure
                          else f"the protocol default ({high} = {ProtocolSettings().to_dict()[high]})")
                flag = "--" + low.replace("_", "-")
                raise ConfigError(f"{flag} {merged[low]} is above {high} {merged[high]} of {origin}", field=flag,
                                  value=merged[low], expected=f"<= {merged[high]}")
        sweep = dataclasses.replace(sweep, measure={**sweep.measure, **protocol})
        if any(k in device.measure for k in protocol):  # the device's measure: comes after the sweep's
            device = device.model_copy(update={"measure": {**device.measure, **{
                k: v for k, v in protocol.items() if k in device.measure}}})
    return sweep, device, applied


def _line_of(path: Path, keys: tuple[str, ...]) -> str:
    """``file:line`` of ``keys`` in a YAML file (the file alone when the line is unknown)."""
    from suite.yamlfile import load_yaml

    try:
        line = load_yaml(path).line_of(keys)
    except (ConfigError, OSError):
        line = None
    return f"{path}:{line}" if line else str(path)


def model_sweep(model: Path, dtypes: str | None) -> tuple[Located, Sweep]:
    """The one-point sweep of ``hwbehave run --model FILE [--dtype …]`` (op ``model``, suite/ops/model.py)."""
    import yaml

    path = model.expanduser().resolve()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "model"
    spec: dict[str, Any] = {"name": f"model-{stem}", "description": f"the model file {path}", "op": "model",
                            "fixed": {"file": str(path)}}
    if dtypes:
        spec["dtypes"] = [d.strip() for d in dtypes.split(",") if d.strip()]
    sweep = load_sweep("--model", text=yaml.safe_dump(spec, sort_keys=False))
    return Located(name=path.name, path=path, source="path"), sweep


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
    adaptive, refinement = manifest.get("adaptive") or {}, manifest.get("refinement") or {}
    if adaptive:
        coarse, extra = int(refinement.get("coarse_points") or 0), int(refinement.get("points") or 0)
        lines.append(f"adaptive {adaptive.get('axis')}: {coarse + extra} of {refinement.get('max_points', '?')} "
                     f"point(s) of {refinement.get('series', '?')} series measured ({coarse} coarse + {extra} in "
                     f"{len(refinement.get('generations') or [])} refinement generation(s), "
                     f"{float(refinement.get('spent_s') or 0):.0f} s)"
                     + (f"; {refinement['stopped']}" if refinement.get("stopped") else ""))
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
