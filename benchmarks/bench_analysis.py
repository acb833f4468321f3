"""Benchmark the analyse and report stages on synthetic data.

Targets: ``detect_all`` on 100,000 measurements in <= 5 s and on 1,000,000 in <= 60 s;
``write_report`` on 10,000 measurements in under 30 s. Prints the figures; exits 1 when a
target is missed.

For each size in ``--sizes`` it prints ``detect_all``'s wall and CPU seconds beside a numpy
baseline measured in the same run (one ``np.sort`` of every raw sample of the frame: a load
indicator, since the 2 cores are shared), the work (measurements, devices, series along an
axis) and the process's peak resident memory. Frames up to 100k come from
:func:`suite.analysis.synthetic.study_frame` (beyond 2,000 rows it adds replicas of its three
devices); larger ones repeat the 100k frame under new device names (a farm of identical
boards, every series analysed again).

``--baseline REV`` also runs ``detect_all`` of the suite at git revision ``REV`` (e.g. ``main``
before this change) on the same frames, side by side, and says whether both give the same
anomaly table (they must: speed work keeps results identical).

    .venv/bin/python benchmarks/bench_analysis.py [--sizes 10000,100000,1000000]
        [--baseline REV] [--report-points 10000] [--per-detector] [--stages]
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from suite.analysis import DETECTOR_NAMES, detect_all
from suite.analysis.records import anomalies_to_frame
from suite.analysis.series import all_axis_series, timed
from suite.analysis.synthetic import study_frame
from suite.analysis.timing import by_timing
from suite.report import write_report

DETECT_TARGETS_S = {100_000: 5.0, 1_000_000: 60.0}
REPORT_TARGET_S = 30.0
GENERATED_MAX = 100_000

#: Runs detect_all of another revision on a pickled frame (argv: frame, anomalies out).
_BASELINE = """
import pickle, sys, time
from suite.analysis import detect_all
from suite.analysis.records import anomalies_to_frame
df = pickle.load(open(sys.argv[1], "rb"))
t, c = time.perf_counter(), time.process_time()
found = detect_all(df)
wall, cpu = time.perf_counter() - t, time.process_time() - c
anomalies_to_frame(found).to_pickle(sys.argv[2])
print(wall, cpu)
"""


def frame_of(n: int, cache: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The benchmark frame of about ``n`` measurements (see the module docstring)."""
    if n <= GENERATED_MAX:
        return study_frame(n, seed=0)
    if GENERATED_MAX not in cache:
        cache[GENERATED_MAX] = study_frame(GENERATED_MAX, seed=0)
    base = cache[GENERATED_MAX]
    copies = max(1, round(n / len(base)))
    return pd.concat([base.assign(device=base["device"] + f"-t{k:02d}", run_id=f"synthetic-t{k:02d}")
                      for k in range(copies)], ignore_index=True)


def numpy_baseline_s(df: pd.DataFrame) -> float:
    """Seconds of one ``np.sort`` over every raw sample of ``df`` (the same-run load yardstick)."""
    samples = np.fromiter((v for s in df["samples_ms"] for v in s), dtype=float)
    t0 = time.perf_counter()
    np.sort(samples)
    return time.perf_counter() - t0


def baseline_tree(rev: str, into: Path) -> Path:
    """``suite/`` of git revision ``rev`` unpacked under ``into`` (for ``PYTHONPATH``)."""
    from revision import suite_at  # benchmarks/revision.py

    return suite_at(rev, into / "tree")


def run_baseline(tree: Path, df: pd.DataFrame, work: Path) -> tuple[float, float, pd.DataFrame]:
    """``detect_all`` of the code under ``tree`` on ``df``: wall s, CPU s and its anomaly table."""
    frame, out = work / "frame.pkl", work / "anomalies.pkl"
    with frame.open("wb") as fh:
        pickle.dump(df, fh)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", _BASELINE, str(frame), str(out)], env=env, cwd=work,
                          capture_output=True, text=True, check=True)
    wall, cpu = (float(x) for x in done.stdout.split()[-2:])
    return wall, cpu, pd.read_pickle(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="measurements per frame, comma-separated")
    parser.add_argument("--baseline", metavar="REV", help="also time detect_all at this git revision")
    parser.add_argument("--baseline-max", type=int, default=GENERATED_MAX,
                        help="largest size the baseline runs on (default 100000)")
    parser.add_argument("--report-points", type=int, default=10_000)
    parser.add_argument("--per-detector", action="store_true", help="also time each detector alone")
    parser.add_argument("--stages", action="store_true",
                        help="also time detect_all's stages one after the other (preparation, series, each detector)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    ok = True
    print(f"machine load (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    cache: dict[int, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tree = baseline_tree(args.baseline, Path(tmp)) if args.baseline else None
        for n in sizes:
            t0 = time.perf_counter()
            df = frame_of(n, cache)
            made = time.perf_counter() - t0
            series = len(all_axis_series(timed(by_timing(df)), 3))
            base_s = numpy_baseline_s(df)
            t0, c0 = time.perf_counter(), time.process_time()
            anomalies = detect_all(df)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            target = next((t for k, t in sorted(DETECT_TARGETS_S.items()) if len(df) <= k * 1.01), None)
            verdict = "" if target is None else f" (target <= {target:.0f} s) {'OK' if wall <= target else 'MISSED'}"
            ok &= target is None or wall <= target
            print(f"detect_all: {len(df):,} measurements, {df['device'].nunique()} devices, {series:,} series: "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU -> {len(anomalies):,} anomalies{verdict}; numpy sort of "
                  f"{df['n'].sum():,} samples {base_s:.3f} s (ratio {wall / base_s:.0f}); peak RSS {peak_mib:,.0f} MiB "
                  f"(frame made in {made:.1f} s, not counted)")
            if tree is not None and len(df) <= args.baseline_max:
                b_wall, b_cpu, b_found = run_baseline(tree, df, Path(tmp))
                same = b_found.equals(anomalies_to_frame(anomalies))
                print(f"  baseline {args.baseline}: {b_wall:.2f} s wall, {b_cpu:.2f} s CPU -> speed-up "
                      f"{b_wall / wall:.1f}x wall, {b_cpu / cpu:.1f}x CPU; anomaly tables "
                      f"{'identical' if same else 'DIFFERENT'}")
                ok &= same
            if args.stages:
                stages: dict[str, float] = {}
                detect_all(df, timings=stages)
                print("  stages, a second detect_all (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
            if args.per_detector:
                prepared = timed(by_timing(df))
                for name in DETECTOR_NAMES:
                    t0 = time.perf_counter()
                    k = len(detect_all(prepared if name not in ("support", "quant_error") else df, only=[name]))
                    print(f"  {name:<15} {time.perf_counter() - t0:6.2f} s  {k:6d} anomalies (series analysed anew)")
            del df

    small = study_frame(args.report_points, seed=1)
    small_anomalies = detect_all(small)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        write_report(small, small_anomalies, out, manifests=[{"run_id": "bench", "seed": 1}])
        report_s = time.perf_counter() - t0
    ok &= report_s < REPORT_TARGET_S
    print(f"write_report: {report_s:.2f} s for {len(small):,} measurements, {len(small_anomalies):,} anomalies "
          f"(target < {REPORT_TARGET_S:.0f} s) {'OK' if report_s < REPORT_TARGET_S else 'MISSED'}")
    print(f"machine load at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
