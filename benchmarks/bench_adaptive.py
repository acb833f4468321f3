"""Adaptive sweeps against dense ones (issue 14 item 1): points measured, steps located, findings.

Two parts, both printed as a table (one row per series):

* **planted**: staircases of known period along ``cout`` (and a step-free series), measured
  densely by the synthetic run of :class:`suite.analysis.synthetic.FrameBuilder` (rounds,
  sentinel noise floor, per-point and round noise); the adaptive search of
  :mod:`suite.sweep.adaptive` is replayed on those same measurements (a point is "measured"
  when the search asks for it), so the two columns differ only in which points they hold.
* **real** (``--real``): ONNX Runtime conv2d on the local CPU, ``cout`` ``lo..hi`` in steps of
  ``step``: one dense run and one adaptive run (``hwbehave run --adaptive``'s code path), each
  with its own rounds and noise floor, plus the adaptive search replayed on the dense run.

Columns: points measured (adaptive / dense and the ratio), the changes located to one grid unit
by each (neighbours that differ by more than the noise floor) and whether they agree, and what
the staircase detector (:func:`suite.analysis.steps.staircase_frame`) finds on each: verdict,
period, step positions.

    .venv/bin/python benchmarks/bench_adaptive.py                    # planted only (seconds)
    .venv/bin/python benchmarks/bench_adaptive.py --real --lo 8 --hi 512 --step 1 --rounds 3
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from suite.analysis.steps import staircase_frame
from suite.analysis.synthetic import FrameBuilder, MachineNoise, add_axis_series
from suite.pipeline import default_min_rel, point_estimates
from suite.sweep import adaptive as adapt
from suite.sweep.point import Point

FIXED = {"cin": 32, "kernel": 3, "resolution": 28}


def as_points(df: pd.DataFrame, axis: str) -> list[Point]:
    """Light points (id, op, dtype, params) for the series logic; the frame's rows are the truth."""
    pts = []
    for row in df.itertuples(index=False):
        params = {k: getattr(row, k) for k in (*FIXED, axis) if hasattr(row, k) and not pd.isna(getattr(row, k))}
        params = {k: int(v) if float(v).is_integer() else float(v) for k, v in params.items()}
        pts.append(Point(id=str(row.point_id), config_id=str(row.point_id), op=str(row.op), dtype=str(row.dtype),
                         params=params, macs=0, flops=0, param_count=0, bytes_in=0, bytes_out=0, bytes_weights=0))
    return pts


def limit_of(df: pd.DataFrame) -> float | None:
    """The neighbour difference a run refines: its noise floor or the detectors' smallest effect."""
    floor = float(df["noise_floor_rel"].iloc[0]) if df["noise_floor_rel"].notna().any() else None
    return adapt.threshold(floor, default_min_rel())


def replay(dense: pd.DataFrame, axis: str, coarse: int) -> tuple[pd.DataFrame, int]:
    """The adaptive search run on a dense run's measurements: the rows it asks for, and its generations."""
    points = as_points(dense, axis)
    plan = adapt.AdaptivePlan(axis=axis, coarse=coarse)
    series, _ = adapt.series_of(points, axis)
    every = point_estimates(dense)
    floor = limit_of(dense)
    chosen = {p.id for p in adapt.coarse_points(points, plan)}
    generations = 0
    while True:
        picks = adapt.refine(series, {i: every[i] for i in chosen}, floor, axis)
        if not picks:
            return dense[dense["point_id"].isin(chosen)], generations
        chosen.update(p.id for p in picks)
        generations += 1


def located_at(df: pd.DataFrame, axis: str, grid: list[float]) -> list[int]:
    """Lower sides ``a`` of the changes the frame locates to one grid unit (``a`` and the next grid
    value both measured and differing by more than the run's noise floor)."""
    floor = limit_of(df)
    d = df.sort_values(axis)
    pos = {v: i for i, v in enumerate(grid)}
    est = point_estimates(d)
    measured = {pos[float(v)]: est[pid] for v, pid in zip(d[axis], d["point_id"])}
    return [int(grid[i]) for i, j in adapt.changes(measured, floor) if j == i + 1]


def finding(df: pd.DataFrame) -> tuple[str, str, list[int]]:
    """The staircase detector's verdict, period and step positions (``at``) on the frame."""
    st = staircase_frame(df)
    if st.empty:
        return "none", "-", []
    row = st.iloc[0]
    period = "-" if pd.isna(row["period"]) else f"{row['period']:g}"
    return str(row["verdict"]), period, [int(float(x)) for x in str(row["steps_at"]).split(",") if x]


def compare(name: str, dense: pd.DataFrame, adaptive: pd.DataFrame, axis: str, generations: int | str,
            planted: tuple[list[int], list[int]] | None = None) -> dict:
    """One table row: sizes; the steps each run locates to one grid unit (neighbours differing by
    more than the run's limit); for planted series, how many of the clear planted steps (rise above
    1.5x the limit) each finds and how many it locates where none was planted; the detector on both."""
    grid = sorted(float(v) for v in dense[axis])
    fd, fa = finding(dense), finding(adaptive)
    steps, reference = located_at(adaptive, axis, grid), located_at(dense, axis, grid)
    floor = [float(f["noise_floor_rel"].iloc[0]) if f["noise_floor_rel"].notna().any() else float("nan")
             for f in (dense, adaptive)]
    row = {"series": name, "dense": len(dense), "adaptive": len(adaptive),
           "ratio": len(dense) / max(1, len(adaptive)), "gens": generations, "floor": floor,
           "limit": limit_of(adaptive), "reference": reference, "located": steps, "planted": planted,
           "same_steps": steps == reference, "finding_dense": fd, "finding_adaptive": fa,
           "same_finding": fd[:2] == fa[:2]}
    if planted is not None:
        every, clear = planted
        row["clear"] = {k: (len(set(v) & set(clear)), len(clear), len(set(v) - set(every)))
                        for k, v in (("dense", reference), ("adaptive", steps))}
    return row


def show(rows: list[dict]) -> None:
    """Print the table and, per series, the positions behind it."""
    def pct(v: float | None) -> str:
        return "-" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"

    def ints(xs: list[int]) -> str:
        text = ",".join(str(x) for x in xs)
        return text if len(text) <= 100 else text[:97] + "..."

    def clear(r: dict, k: str) -> str:
        if "clear" not in r:
            return "-"
        found, n, extra = r["clear"][k]
        return f"{found}/{n}+{extra}"

    print(f"{'series':32} {'dense':>5} {'adapt':>5} {'ratio':>6} {'gens':>4} {'floor d/a':>11} {'limit':>5} "
          f"{'located d/a':>11} {'same':>5} {'planted d':>9} {'planted a':>9}  {'detector dense':>16}  "
          f"{'detector adaptive':>17}  same")
    for r in rows:
        fd, fa = r["finding_dense"], r["finding_adaptive"]
        print(f"{r['series']:32} {r['dense']:5d} {r['adaptive']:5d} {r['ratio']:5.1f}x {r['gens']!s:>4} "
              f"{pct(r['floor'][0]):>5}/{pct(r['floor'][1]):>5} {pct(r['limit']):>5} "
              f"{len(r['reference']):>5}/{len(r['located']):<5} {str(r['same_steps']):>5} {clear(r, 'dense'):>9} "
              f"{clear(r, 'adaptive'):>9}  {fd[0] + ' P=' + fd[1]:>16}  {fa[0] + ' P=' + fa[1]:>17}  "
              f"{r['same_finding']}")
    print("planted d/a: clear planted steps located / clear planted steps + changes located where none was planted")
    for r in rows:
        print(f"  {r['series']}:")
        if r["planted"] is not None:
            print(f"    clear planted steps at   {ints(r['planted'][1])}")
        print(f"    dense run locates        {ints(r['reference'])}")
        print(f"    adaptive locates         {ints(r['located'])}")
        print(f"    both {len(set(r['reference']) & set(r['located']))}; only dense: "
              f"{ints(sorted(set(r['reference']) - set(r['located'])))}; only adaptive: "
              f"{ints(sorted(set(r['located']) - set(r['reference'])))}")
        print(f"    detector on dense at     {ints(r['finding_dense'][2])}")
        print(f"    detector on adaptive at  {ints(r['finding_adaptive'][2])}")


def planted(lo: int, hi: int, coarse: int, seed: int) -> list[dict]:
    """Planted staircases ``latency = 0.05 * (overhead + ceil(cout / P))`` and a step-free series."""
    values = list(range(lo, hi + 1))
    noise = MachineNoise(sample_rel=0.02, round_rel=0.01, point_rel=0.01, drift_rel=0.01)
    x = np.asarray(values, dtype=float)
    cases = [(f"staircase P={p}", 0.05 * (2.0 + np.ceil(x / p)), p) for p in (8, 16, 32, 64)]
    cases.append(("smooth (no steps)", 0.3 * (1.0 + x / hi), None))
    rows = []
    for i, (name, lat, period) in enumerate(cases):
        b = FrameBuilder(seed * 1000 + i, n_samples=15, rounds=3, noise=noise, run_id=f"planted-{i}")
        add_axis_series(b, f"planted-{i}", "planted", "cout", values, lat, fixed=dict(FIXED))
        dense = b.frame()
        sub, gens = replay(dense, "cout", coarse)
        limit = limit_of(dense) or 0.0
        every = [] if period is None else [v for v in values[:-1] if v % period == 0]  # ceil(x / P) rises after v
        clear = [v for v in every if lat[values.index(v + 1)] / lat[values.index(v)] - 1 > 1.5 * limit]
        rows.append(compare(name, dense, sub, "cout", gens, (every, clear)))
    return rows


def real(lo: int, hi: int, step: int, rounds: int, coarse: int, keep: Path | None, min_s: float) -> list[dict]:
    """A dense and an adaptive run of ONNX Runtime conv2d on the local CPU, and the search replayed on the dense run."""
    from suite.devices.config import load_device
    from suite.locations import locate
    from suite.pipeline import run_sweep
    from suite.results import load, load_rounds
    from suite.sweep.expand import load_sweep

    device = load_device(locate("devices", "local-cpu", field="--device").path)
    # the default protocol (warm-up 5 runs / 0.1 s, 20 samples) but 0.05 s of samples instead of 0.3 s, so the
    # dense run of 505 points x 3 rounds takes minutes; no confirmation (it is not what is compared)
    measure = f"measure: {{rounds: {rounds}, sentinel_every: 10, confirm_s: 0, min_s: {min_s}}}"
    fixed = "fixed: {cin: 16, resolution: 14, kernel: 3}"
    dense_text = f"name: bench-dense\nop: conv2d\n{fixed}\naxes:\n  cout: {{range: [{lo}, {hi}, {step}]}}\n{measure}\n"
    adapt_text = (f"name: bench-adaptive\nop: conv2d\n{fixed}\naxes:\n  cout: {{adaptive: [{lo}, {hi}], step: {step}, "
                  f"coarse: {coarse}}}\n{measure}\n")
    root = keep or Path(tempfile.mkdtemp(prefix="bench-adaptive-"))
    out = {}
    for name, text in (("dense", dense_text), ("adaptive", adapt_text)):
        sweep = load_sweep(f"<bench {name}>", text=text)
        t0 = time.monotonic()
        run_sweep(sweep, device, root / name)  # a kept, finished run is reused: nothing left to measure
        rounds = load_rounds(root / name)
        # host seconds of every job and sentinel measurement (agent start-up included): what measuring cost
        out[name] = (load(root / name), float(rounds["wall_s"].sum()))
        print(f"real {name}: {len(out[name][0])} points, {out[name][1]:.0f} s of measuring, {len(set(rounds['round']))} "
              f"rounds ({time.monotonic() - t0:.0f} s now; {root / name})", file=sys.stderr)
    dense, adaptive = out["dense"][0], out["adaptive"][0]
    sub, gens = replay(dense, "cout", coarse)
    series = f"ORT conv2d cout {lo}..{hi}/{step}"
    rows = [compare(series + " (runs)", dense, adaptive, "cout", "run"),
            compare(series + " (replay)", dense, sub, "cout", gens)]
    for unit in (4, 8) if step == 1 else ():  # the coarser grids: the dense run's points on them
        coarser = dense[(dense["cout"] - lo) % unit == 0]
        sub, gens = replay(coarser, "cout", coarse)
        rows.append(compare(f"ORT conv2d cout {lo}..{hi}/{unit} (replay)", coarser, sub, "cout", gens))
    print(f"seconds of measuring (sum of the jobs' host time, sentinel and agent start-up included): dense "
          f"{out['dense'][1]:.0f} s, adaptive {out['adaptive'][1]:.0f} s "
          f"({out['dense'][1] / max(out['adaptive'][1], 1e-9):.1f}x)")
    return rows


def summarise(rows: list[dict], seeds: int) -> None:
    """Per planted series over the seeds: points ratio, clear steps all located, extras, same finding."""
    print(f"planted, {seeds} seeds: {'series':20} {'ratio median (min-max)':>24} {'all clear steps':>15} "
          f"{'extra a/d':>9} {'same finding+period':>19}")
    for name in dict.fromkeys(r["series"] for r in rows):
        rs = [r for r in rows if r["series"] == name]
        ratios = [r["ratio"] for r in rs]
        allc = sum(r["clear"]["adaptive"][0] == r["clear"]["adaptive"][1] for r in rs)
        alld = sum(r["clear"]["dense"][0] == r["clear"]["dense"][1] for r in rs)
        extra_a = sum(r["clear"]["adaptive"][2] for r in rs) / len(rs)
        extra_d = sum(r["clear"]["dense"][2] for r in rs) / len(rs)
        same = sum(r["same_finding"] for r in rs)
        print(f"{'':22}{name:20} {np.median(ratios):8.1f}x ({min(ratios):.1f}-{max(ratios):.1f}x)      "
              f"a {allc}/{len(rs)} d {alld}/{len(rs)} {extra_a:4.1f}/{extra_d:<4.1f} {same:>12}/{len(rs)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", action="store_true", help="also the ONNX Runtime runs on the local CPU (minutes)")
    ap.add_argument("--lo", type=int, default=8)
    ap.add_argument("--hi", type=int, default=512)
    ap.add_argument("--step", type=int, default=1, help="grid unit of the real sweep (the planted one uses 1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-s", type=float, default=0.05, help="real runs: seconds of samples per point and round")
    ap.add_argument("--coarse", type=int, default=adapt.DEFAULT_COARSE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the real runs under this folder (a rerun reuses them)")
    ap.add_argument("--seeds", type=int, default=1, help="planted part: also summarise this many noise seeds")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"(1/5/15 min), {os.cpu_count()} CPUs")
    rows = planted(args.lo, args.hi, args.coarse, args.seed)
    if args.seeds > 1:
        summarise([row for seed in range(args.seed, args.seed + args.seeds)
                   for row in planted(args.lo, args.hi, args.coarse, seed)], args.seeds)
    if args.real:
        rows += real(args.lo, args.hi, args.step, args.rounds, args.coarse, args.keep, args.min_s)
    show(rows)
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
