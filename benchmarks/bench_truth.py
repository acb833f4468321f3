"""Does hwbehave tell the truth on a noisy machine? Planted series with known truth, then this CPU.

Part 1 (planted, seconds to minutes, no device): staircases of periods 4-32 on grids 1-4 with a
fixed overhead of 0.5-3 steps, and step-free monotone series, each measured as a run of 3
interleaved rounds through :class:`suite.analysis.synthetic.FrameBuilder` (systematic per-point
noise 1-5 %, round noise, time drift, slow spells in half the runs), analysed by
``detect_all``; candidates left unresolved get the adaptive confirmation the pipeline gives them
(``points_to_confirm`` -> 3 extra rounds of those points) and are analysed again. Targets:

* recall >= 95 % of the staircases whose steps are all >= 8 % and >= 4x the series' noise (and
  have 2+ points per plateau: a period equal to the grid is a ramp; and are not below the
  run's own noise floor, under which no detector may claim anything), period right >= 90 %;
* false staircases on step-free series <= 5 %;
* false non-monotonic on monotone series (all of them: staircases and step-free) <= 5 %.

Part 2 (``--real``, minutes, this CPU with ONNX Runtime): A/A (the same sweep twice: ``compare``
flags <= 5 % of points; a 10 % slowdown planted on a quarter of the points of a copy of run B is
found >= 90 %), repeatability (the quickstart twice: no finding of one run contradicted by the
other; fused ReLU/ReLU6 never significant), and the staircase of ORT conv2d along cout with the
period following the SIMD flags (16 with AVX-512, 8 with AVX2).

    .venv/bin/python benchmarks/bench_truth.py [--series 400] [--seed 0] [--real] [--results DIR]

Prints the figures and the machine load (``os.getloadavg``); exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suite.analysis import detect_all
from suite.analysis.confirm import points_to_confirm
from suite.analysis.synthetic import FrameBuilder, PlantedSeries, add_axis_series, planted_series
from suite.analysis.uncertainty import CONFIRMED

REPO = Path(__file__).resolve().parent.parent
RECALL_TARGET = 0.95
PERIOD_TARGET = 0.90
FALSE_STAIRCASE_TARGET = 0.05
FALSE_DIP_TARGET = 0.05
CONFIRM_ROUNDS = 3


@dataclass
class Outcome:
    """What the detectors said about one planted series, before and after confirmation."""

    case: PlantedSeries
    staircase: str = ""            # "", "confirmed" or "unresolved"
    period: float | None = None
    dip: str = ""
    first_staircase: str = ""      # before confirmation
    first_dip: str = ""
    confirmed_points: int = 0
    floor: float = float("nan")    # the run's noise floor (from its sentinel)
    extra: dict = field(default_factory=dict)

    @property
    def noise_rel(self) -> float:
        """The series' noise: systematic per-point sd and the headline's between-round sd."""
        nz = self.case.noise
        return float(np.hypot(nz.point_rel, 1.2533 * np.hypot(nz.round_rel, nz.sample_rel / 4) / np.sqrt(3)))

    @property
    def clear(self) -> bool:
        """Steps >= 8 % and >= 4x the noise, 2+ points per plateau."""
        c = self.case
        return c.detectable and c.min_step_rel >= 0.08 and c.min_step_rel >= 4 * self.noise_rel

    @property
    def eligible(self) -> bool:
        """In the recall population: :attr:`clear` and not below the run's own noise floor
        (which no detector may claim an effect below; slow spells raise it)."""
        return self.clear and not self.case.min_step_rel < self.floor


def _verdicts(df) -> tuple[str, float | None, str]:
    found = detect_all(df, only=["staircase", "non_monotonic"])
    stair = next((a for a in found if a.kind == "staircase"), None)
    dip = next((a for a in found if a.kind == "non_monotonic"), None)
    period = stair.evidence.get("period") if stair is not None and stair.verdict == CONFIRMED else None
    return (stair.verdict if stair else ""), period, (dip.verdict if dip else "")


def analyse_case(case: PlantedSeries, seed: int) -> Outcome:
    """Measure one planted series as a run, analyse, confirm what is unresolved, analyse again."""
    b = FrameBuilder(seed, n_samples=15, rounds=3, noise=case.noise, run_id=f"planted-{seed}")
    add_axis_series(b, "planted", "planted", "cout", case.values, case.latency_ms,
                    fixed={"cin": 32, "kernel": 3, "resolution": 28})
    df = b.frame()
    out = Outcome(case=case, floor=float(df["noise_floor_rel"].iloc[0]))
    out.first_staircase, out.period, out.first_dip = _verdicts(df)
    out.staircase, out.dip = out.first_staircase, out.first_dip
    jobs = points_to_confirm(df)
    if jobs:
        out.confirmed_points = b.confirm(jobs, CONFIRM_ROUNDS)
        out.staircase, out.period, out.dip = _verdicts(b.frame())
    return out


def planted(n_series: int, seed: int) -> tuple[bool, list[Outcome]]:
    """Part 1; prints the figures and returns whether every target is met."""
    rng = np.random.default_rng(seed)
    cases = [planted_series(rng, "staircase") for _ in range(n_series)] + \
            [planted_series(rng, "smooth") for _ in range(n_series)]
    cases = [c for c in cases if len(c.values) >= 4]  # a detector needs 4 points along an axis
    t0 = time.perf_counter()
    outcomes = [analyse_case(c, seed * 1_000_003 + i) for i, c in enumerate(cases)]
    took = time.perf_counter() - t0
    stairs = [o for o in outcomes if o.case.kind == "staircase"]
    smooth = [o for o in outcomes if o.case.kind == "smooth"]
    eligible = [o for o in stairs if o.eligible]
    below_floor = [o for o in stairs if o.clear and not o.eligible]

    def rate(items: list[Outcome], pred) -> float:
        return sum(map(pred, items)) / max(len(items), 1)

    recall = rate(eligible, lambda o: o.staircase == CONFIRMED)
    recall_first = rate(eligible, lambda o: o.first_staircase == CONFIRMED)
    period_ok = rate(eligible, lambda o: o.staircase == CONFIRMED and o.period == o.case.period)
    false_stair = rate(smooth, lambda o: o.staircase == CONFIRMED)
    false_dip = rate(outcomes, lambda o: o.dip == CONFIRMED)
    unresolved_smooth = rate(smooth, lambda o: o.staircase == "unresolved")
    unresolved_eligible = rate(eligible, lambda o: o.staircase == "unresolved")
    other = [o for o in stairs if not o.eligible and o.case.detectable]
    confirmed_runs = rate(outcomes, lambda o: o.confirmed_points > 0)
    print(f"planted series: {len(stairs)} staircases ({len(eligible)} in the recall population; {len(below_floor)} "
          f"more had steps below their run's noise floor, and {rate(below_floor, lambda o: o.staircase == CONFIRMED):.0%}"
          f" of those were claimed), {len(smooth)} step-free; analysed in {took:.1f} s; {confirmed_runs:.0%} of runs "
          f"re-measured some points")
    rows = [
        ("recall, staircases with steps >= 8% and >= 4x noise", recall, f">= {RECALL_TARGET:.0%}",
         recall >= RECALL_TARGET, f"before confirmation {recall_first:.1%}; unresolved {unresolved_eligible:.1%}"),
        ("period right (same population)", period_ok, f">= {PERIOD_TARGET:.0%}", period_ok >= PERIOD_TARGET, ""),
        ("false staircases on step-free series", false_stair, f"<= {FALSE_STAIRCASE_TARGET:.0%}",
         false_stair <= FALSE_STAIRCASE_TARGET, f"unresolved {unresolved_smooth:.1%}"),
        ("false non-monotonic on monotone series", false_dip, f"<= {FALSE_DIP_TARGET:.0%}",
         false_dip <= FALSE_DIP_TARGET, f"unresolved {rate(outcomes, lambda o: o.dip == 'unresolved'):.1%}"),
        ("recall, other detectable staircases (smaller steps)", rate(other, lambda o: o.staircase == CONFIRMED),
         "(reported)", True, f"{len(other)} series"),
    ]
    ok = True
    for name, value, target, passed, note in rows:
        ok &= passed
        print(f"  {name:<55} {value:7.1%}  target {target:<8} {'ok' if passed else 'MISSED'}  {note}")
    return ok, outcomes


# -- part 2: this CPU --------------------------------------------------------------------------

#: The planted slowdown of the A/A copy and the share of points it hits.
PLANTED_SLOWDOWN = 0.10
AA_FLAG_TARGET = 0.05
AA_FOUND_TARGET = 0.90
ROUNDS = 3

CHANNELS_SWEEP = """name: truth-ort-channels
description: ORT conv2d 3x3 latency along output channels 4..128 (blocked convolutions step with the SIMD width).
op: conv2d
fixed: {cin: 32, resolution: 28, kernel: 3}
axes:
  cout: {range: [4, 128, 4]}
measure: {warmup_runs: 3, warmup_s: 0.05, min_runs: 15, min_s: 0.15, max_s: 1.0}
"""


def simd_block() -> tuple[str, int | None]:
    """The SIMD flags of this CPU and the channel block ONNX Runtime's NCHWc convolutions use
    with them (16 with AVX-512, 8 with AVX2; None otherwise)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    except OSError:
        flags = []
    if "avx512f" in flags:
        return "avx512f", 16
    if "avx2" in flags:
        return "avx2", 8
    return "none", None


def measure(sweep_path: Path, out: Path) -> Path:
    """One run of ``sweep_path`` on this CPU with :data:`ROUNDS` rounds; returns the run directory."""
    import inspect

    from suite.devices.config import load_device
    from suite.pipeline import run_sweep
    from suite.sweep.expand import load_sweep

    params = inspect.signature(run_sweep).parameters
    rounds = {"rounds": ROUNDS} if "rounds" in params else {"repeat": ROUNDS}
    t0 = time.perf_counter()
    run_sweep(load_sweep(sweep_path), load_device(REPO / "devices/local-cpu.yaml"), out, **rounds)
    print(f"    measured {sweep_path.name} in {time.perf_counter() - t0:.0f} s -> {out}")
    return out


def slowed_copy(run_dir: Path, out: Path, share: float, factor: float, seed: int) -> tuple[Path, set[str]]:
    """A copy of a run with ``factor`` applied to every timing of a random ``share`` of its points."""
    import pandas as pd

    shutil.copytree(run_dir, out)
    df = pd.read_parquet(out / "measurements.parquet")
    points = sorted(df["point_id"].unique())
    rng = np.random.default_rng(seed)
    hit = set(rng.choice(points, size=max(1, round(share * len(points))), replace=False))
    rows = df["point_id"].isin(hit)
    for col in ("median_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "p10_ms", "p90_ms", "ci_low_ms", "ci_high_ms"):
        if col in df.columns:
            df.loc[rows, col] = df.loc[rows, col] * factor
    for col in ("samples_ms", "round_median_ms"):
        if col in df.columns:
            df[col] = [list(np.asarray(v, float) * factor) if r and v is not None else v
                       for v, r in zip(df[col], rows, strict=True)]
    df.to_parquet(out / "measurements.parquet", index=False)
    (out / "journal.jsonl").unlink(missing_ok=True)  # the parquet is the copy's truth
    return out, {str(p) for p in hit}


def real_machine(results: str | None) -> bool:
    """Part 2; prints the figures and returns whether every target is met."""
    import tempfile

    import suite.results as store
    from suite.report.compare import compare_runs, significant_changes
    from suite.report.findings import cell_state, findings_table

    root = Path(results) if results else Path(tempfile.mkdtemp(prefix="bench-truth-"))
    root.mkdir(parents=True, exist_ok=True)
    ok = True
    print(f"this CPU ({root}):")
    # A/A
    quick = REPO / "sweeps/study/f1-channels-quick.yaml"
    a, b = measure(quick, root / "aa-a"), measure(quick, root / "aa-b")
    da, db = store.load(a), store.load(b)
    cmp = compare_runs(da, db)
    flagged = len(significant_changes(cmp)) / max(len(cmp), 1)
    copy, hit = slowed_copy(b, root / "aa-b-slowed", 0.25, 1 + PLANTED_SLOWDOWN, seed=1)
    sig = significant_changes(compare_runs(da, store.load(copy)))
    found = len(set(sig["point_id"]) & hit) / len(hit)
    extra = len(set(sig["point_id"]) - hit)
    rows = [("A/A: points compare flags on an unchanged rerun", flagged, f"<= {AA_FLAG_TARGET:.0%}",
             flagged <= AA_FLAG_TARGET, f"{len(cmp)} points; run-wide shift {100 * cmp.attrs['shift']:+.1f}%"),
            (f"A/A copy: planted +{PLANTED_SLOWDOWN:.0%} on a quarter of the points found", found,
             f">= {AA_FOUND_TARGET:.0%}", found >= AA_FOUND_TARGET, f"{len(hit)} planted, {extra} other points flagged")]
    # repeatability of conclusions
    qs = REPO / "sweeps/quickstart.yaml"
    q1, q2 = measure(qs, root / "quick-1"), measure(qs, root / "quick-2")
    tables, relu_claims = [], []
    from suite.analysis import detect_all
    for run_dir in (q1, q2):
        df = store.load(run_dir)
        found_anoms = detect_all(df)
        tables.append(findings_table(df, found_anoms))
        relu_claims += [x for x in found_anoms if x.kind == "activation_overhead" and x.confirmed
                        and x.at in ("relu", "relu6")]
    contradictions = []
    for finding in tables[0].index:
        for dev in [c for c in tables[0].columns if c != "title"]:
            s1, s2 = cell_state(tables[0].loc[finding, dev]), cell_state(tables[1].loc[finding, dev])
            if {s1, s2} == {"yes", "no"}:
                contradictions.append(f"{finding}/{dev}: {tables[0].loc[finding, dev]} vs {tables[1].loc[finding, dev]}")
    rows.append(("quickstart twice: findings one run contradicts", float(len(contradictions)), "0",
                 not contradictions, "; ".join(contradictions) or
                 " | ".join(f"{f}: {tables[0].loc[f, c]} / {tables[1].loc[f, c]}" for f in tables[0].index
                            for c in tables[0].columns if c != "title")))
    rows.append(("quickstart twice: fused ReLU/ReLU6 claimed significant", float(len(relu_claims)), "0",
                 not relu_claims, "; ".join(x.message for x in relu_claims)))
    # the staircase of ORT's blocked convolutions
    flag, block = simd_block()
    sweep = root / "channels.yaml"
    sweep.write_text(CHANNELS_SWEEP)
    ch = store.load(measure(sweep, root / "channels"))
    stairs = [x for x in detect_all(ch, only=["staircase"]) if x.confirmed]
    period = stairs[0].evidence.get("period") if stairs else None
    floor = float(ch["noise_floor_rel"].max()) if "noise_floor_rel" in ch.columns else float("nan")
    rows.append((f"ORT conv2d along cout: staircase period ({flag})", float(period or 0), f"= {block}",
                 block is None or period == block,
                 (stairs[0].message if stairs else "no confirmed staircase") + f" (noise floor {floor:.1%})"))
    for name, value, target, passed, note in rows:
        ok &= passed
        shown = f"{value:7.1%}" if "%" in target else f"{value:7g}"
        print(f"  {name:<55} {shown}  target {target:<8} {'ok' if passed else 'MISSED'}  {note}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=400, help="planted series of each kind (default 400)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true", help="also run part 2 on this CPU (minutes)")
    parser.add_argument("--results", default=None, help="where part 2 writes its runs (default: a temp dir)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"machine load (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    ok, _ = planted(args.series, args.seed)
    if args.real:
        ok &= real_machine(args.results)
    load = os.getloadavg()
    print(f"machine load at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
