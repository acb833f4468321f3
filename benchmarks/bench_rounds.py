"""Honest intervals, checked for real: the same sweep run twice on this CPU.

Runs a conv2d channel series (3x3, cin 32, 28x28, cout 4..96 step 4; the quickstart's protocol
settings, the default rounds, sentinel and confirmation budget) twice, one run after the other,
and reports, side by side:

* the within-burst 95 % CI half-width (one round's samples: what schema 1 reported) and the
  between-round interval half-width (what schema 2 reports), median over points, % of latency;
* calibration: the fraction of points whose headline in one run lies inside the other run's
  interval, both ways, for both kinds of interval. Two runs each have their own error, so even a
  correct 95 % interval holds the *other* run's estimate only about 83 % of the time
  (P(|Z| < 1.96 / sqrt 2) for two independent normal estimates with the same spread); a
  within-burst CI that is far too narrow holds it far less often;
* the same after removing the run-wide shift (the median ratio of the two runs' headlines: the
  machine's state differs between runs, which no interval of one run can know about);
* each run's noise floor (sentinel), and ``uptime``'s load averages before and after.

With ``--quickstart`` it also runs ``sweeps/quickstart.yaml`` once and prints what each default
costs (seconds of measuring per phase, from the rounds' host times).

    .venv/bin/python benchmarks/bench_rounds.py [--quickstart] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import suite.results as results
from suite.agent.protocol import RoundSettings
from suite.devices.config import load_device
from suite.pipeline import run_sweep
from suite.sweep.expand import load_sweep

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "sweeps" / "quickstart.yaml"
CHANNELS = """name: bench-rounds-channels
description: conv2d 3x3, cin 32, 28x28, cout 4..96 step 4 (issue 10's series), quickstart protocol settings
op: conv2d
fixed: {cin: 32, resolution: 28, kernel: 3}
axes: {cout: {range: [4, 96, 4]}}
dtypes: [fp32]
measure: {warmup_runs: 3, warmup_s: 0.05, min_runs: 15, min_s: 0.15, max_s: 1.0}
"""


def load() -> str:
    """``uptime``'s load averages (1, 5, 15 minutes)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run_once(sweep_path: Path, out: Path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict, float]:
    t0 = time.monotonic()
    outcome = run_sweep(load_sweep(sweep_path), load_device(REPO / "devices" / "local-cpu.yaml"), out, seed=seed)
    wall = time.monotonic() - t0
    if not outcome.complete:
        raise SystemExit(f"run {out} did not complete: {outcome.error}")
    manifest = results.manifests(out)[0]
    return results.load(out), results.load_rounds(out), manifest, wall


def within_burst(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per job: round 0's median and within-burst CI (what a one-round, schema-1 run reported)."""
    first = rounds[(rounds.role == "point") & (rounds["round"] == 0) & rounds.status.isin(["ok", "fallback"])]
    return first.set_index("job_id")[["median_ms", "ci_low_ms", "ci_high_ms"]]


def half_pct(frame: pd.DataFrame) -> float:
    return float(np.median((frame.ci_high_ms - frame.ci_low_ms) / 2 / frame.median_ms) * 100)


def inside(head: pd.Series, interval: pd.DataFrame) -> float:
    both = interval.join(head.rename("other"), how="inner")
    return float(((both.other >= both.ci_low_ms) & (both.other <= both.ci_high_ms)).mean())


def cost_lines(rounds: pd.DataFrame, manifest: dict, wall: float) -> list[str]:
    """Seconds of measuring per default, from each job's host time in its batch (``wall_s``).

    The first job of a batch also carries the fresh agent session's start-up: that excess over
    the job's median time is counted as start-up, once per round.
    """
    r = rounds[rounds.wall_s.notna()].copy()
    typical = r.groupby("job_id").wall_s.median()
    first = r.groupby("round").order.idxmin()
    startup = (r.loc[first, "wall_s"] - r.loc[first, "job_id"].map(typical)).clip(lower=0)
    r.loc[first, "wall_s"] -= startup
    plan = r[(r.role == "point") & (r.phase == "plan")].wall_s.sum()
    sentinel = r[r.role == "sentinel"]
    confirm = r[(r.role == "point") & (r.phase == "confirm")].wall_s.sum()
    block = manifest.get("confirm") or {}
    defaults = RoundSettings()
    n_plan = int(manifest["rounds"])
    return [f"quickstart: {manifest['sweep']['points']} points, wall {wall:.1f} s (build and summary included), "
            f"measuring {rounds.wall_s.sum():.1f} s:",
            f"  rounds = {n_plan}: {plan:.1f} s of points ({plan / n_plan:.1f} s per round)",
            f"  a fresh agent session per round: {startup.sum():.1f} s for {len(startup)} rounds "
            f"({startup.median():.2f} s each)",
            f"  sentinel_every = {defaults.sentinel_every} (plus first and last): {sentinel.wall_s.sum():.1f} s for "
            f"{len(sentinel)} measurements ({len(sentinel[sentinel.phase == 'plan'])} in planned rounds)",
            f"  confirm_s = {defaults.confirm_s:g}: {block.get('spent_s', 0):.1f} s in {block.get('rounds', 0)} "
            f"round(s) ({confirm:.1f} s of points, {len(block.get('points') or [])} points); stopped: "
            f"{block.get('stopped')}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quickstart", action="store_true", help="also time the quickstart once (cost of each default)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    args = ap.parse_args()
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        sweep = root / "channels.yaml"
        sweep.write_text(CHANNELS)
        runs = [run_once(sweep, root / f"channels-{k}", seed=k) for k in (1, 2)]
        quick = run_once(QUICKSTART, root / "quickstart", seed=0) if args.quickstart else None
    load_after = load()

    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; {os.cpu_count()} CPUs")
    for k, (df, rounds, manifest, wall) in enumerate(runs, 1):
        burst = within_burst(rounds)
        floor = (manifest.get("noise_floor") or {}).get("rel")
        confirm = manifest.get("confirm") or {}
        print(f"run {k}: {len(df)} points, {manifest['rounds']} rounds + {confirm.get('rounds', 0)} confirmation "
              f"round(s), {wall:.0f} s; within-burst CI half-width {half_pct(burst):.2f}%, between-round interval "
              f"half-width {half_pct(df.set_index('job_id')):.2f}% (median over points); rounds of a point differ "
              f"by {np.median(df.spread_rel.dropna()) * 100:.1f}% (median range), noise floor "
              f"{floor * 100 if floor is not None else float('nan'):.1f}%")
    (a, ra, _, _), (b, rb, _, _) = runs
    ia, ib = a.set_index("job_id"), b.set_index("job_id")
    wa, wb = within_burst(ra), within_burst(rb)
    between = (inside(ib.median_ms, ia), inside(ia.median_ms, ib))
    burst = (inside(wb.median_ms, wa), inside(wa.median_ms, wb))
    shift = float(np.median(ib.median_ms / ia.median_ms))  # the run-wide shift between the runs' machine states
    shifted = (inside(ib.median_ms / shift, ia), inside(ia.median_ms * shift, ib))
    ratio = half_pct(ia) / half_pct(wa)
    print("calibration, run 2's headline inside run 1's interval / run 1's inside run 2's "
          "(a correct 95% interval: about 83%):")
    print(f"  between-round interval (schema 2): {between[0]:.0%} / {between[1]:.0%}")
    print(f"  within-burst CI of one round (schema 1): {burst[0]:.0%} / {burst[1]:.0%}")
    print(f"  between-round interval after removing the run-wide shift ({(shift - 1) * 100:+.2f}%, median ratio): "
          f"{shifted[0]:.0%} / {shifted[1]:.0%}")
    print(f"  between-round / within-burst half-width: {ratio:.1f}x")
    if quick is not None:
        _, rounds, manifest, wall = quick
        for line in cost_lines(rounds, manifest, wall):
            print(line)


if __name__ == "__main__":
    main()
